"""A CSV file's header, then its rows, each with the line it starts on (a quoted cell can
span lines) and blank rows skipped; a row that cannot be read ends the file with an error
at its line."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from mercato.catalog.transfer.records import FileRefused, LineError, NotUtf8


class CsvRows:
    def __init__(self, lines: Iterable[str]) -> None:
        self._reader = csv.reader(lines)
        try:
            self.header = [name.strip() for name in next(self._reader)]
        except StopIteration:
            raise FileRefused("the file is empty") from None
        except (csv.Error, NotUtf8) as error:
            raise FileRefused(f"line 1: not readable as UTF-8 CSV ({error})") from None

    def __iter__(self) -> Iterator[tuple[int, list[str]] | LineError]:
        end = self._reader.line_num
        while True:
            line = end + 1
            try:
                values = next(self._reader)
            except StopIteration:
                return
            except NotUtf8 as error:
                yield LineError(error.line, None, "not UTF-8 text")
                return
            except csv.Error as error:
                yield LineError(line, None, f"not CSV ({error})")
                return
            end = self._reader.line_num
            if any(value.strip() for value in values):
                yield line, values
