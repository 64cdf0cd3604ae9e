"""`mercato cluster up|down|status`: Mercato scaled out on this machine with real engines.

nginx in front of N API and M payments processes, a PostgreSQL primary and a streaming
replica, Redis, NATS JetStream and the workers, all under `.data/cluster/`, kept alive by
one supervisor process. It starts processes with the same commands a deployment runs
(`mercato serve`, `mercato worker`, `mercato payments serve`, ...): it imports no context.
"""
