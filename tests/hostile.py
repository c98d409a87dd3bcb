"""Hostile roster files, made small: what an office member with bad intent (or a broken exporter) could upload.
Used by the roster tests and by benchmarks/bench_hostile_files.py, which measures the memory each takes to refuse."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

HEADER = ["单位", "开始", "结束", "角色", "姓名", "电话"]
ROW = ["city", "2030-06-01 08:00", "2030-06-01 20:00", "带班领导", "王带班", "13900000000"]


def xlsx(rows: list[list[str]] | None = None) -> bytes:
    """An ordinary roster workbook."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows if rows is not None else [HEADER, ROW]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _patched(sheet_xml: bytes | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """The ordinary workbook with its sheet's XML replaced, or members added."""
    source = zipfile.ZipFile(io.BytesIO(xlsx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if sheet_xml is not None and info.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml
            target.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            target.writestr(name, data)
    return out.getvalue()


def _sheet(dimension: str, rows: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>'
    ).encode()


def _row(index: int, values: list[str], first_column: int = 1) -> str:
    cells = "".join(
        f'<c r="{_column(first_column + i)}{index}" t="inlineStr"><is><t>{v}</t></is></c>' for i, v in enumerate(values)
    )
    return f'<row r="{index}">{cells}</row>'


def _column(n: int) -> str:
    name = ""
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(65 + rest) + name
    return name


def claims_16384_columns() -> bytes:
    """A 2-row roster whose <dimension> claims every column and row a sheet can have (openpyxl padded each row to
    it: 1.6 KB took 500 MB)."""
    return _patched(_sheet("A1:XFD1048576", _row(1, HEADER) + _row(2, ROW)))


def a_million_rows() -> bytes:
    """The header, then one cell in the sheet's last row: read as a million rows between them."""
    return _patched(_sheet("A1:F1048576", _row(1, HEADER) + _row(1048576, ["x"])))


def too_wide() -> bytes:
    """A row of 40 filled columns."""
    return _patched(_sheet("A1:AN2", _row(1, HEADER) + _row(2, ["x"] * 40)))


def far_column() -> bytes:
    """One cell in the sheet's last column (XFD), the rest ordinary."""
    return _patched(_sheet("A1:XFD2", _row(1, HEADER) + _row(2, ROW) + _row(3, ["x"], first_column=16384)))


def long_cell() -> bytes:
    return _patched(_sheet("A1:F2", _row(1, HEADER) + _row(2, [*ROW[:4], "王" * 600, ROW[5]])))


def zip_bomb(size: int = 64 * 1024 * 1024) -> bytes:
    """A member that inflates to `size` bytes of nothing (a thousandfold and more)."""
    return _patched(extra={"xl/media/padding.bin": b"\0" * size})


def many_parts(n: int = 500) -> bytes:
    return _patched(extra={f"xl/media/p{i}.bin": b"x" for i in range(n)})


def csv_rows(n: int) -> bytes:
    return ("\n".join([",".join(HEADER)] + [",".join(ROW)] * n) + "\n").encode()


def csv_wide(columns: int) -> bytes:
    return (",".join(HEADER) + "\n" + ",".join(["x"] * columns) + "\n").encode()


def csv_fullest(limit: int = 5 * 1024 * 1024) -> bytes:
    """As many distinct cells as the byte, row and column limits let through: 20,000 rows of 16 different values."""
    lines = [",".join(HEADER)]
    size = len(lines[0])
    for r in range(20_000):
        line = ",".join(f"{r:05d}{c:02d}" for c in range(16))
        if size + len(line) + 1 > limit - 1:
            break
        lines.append(line)
        size += len(line) + 1
    return ("\n".join(lines) + "\n").encode()


def shared_strings(limit: int = 8 * 1024 * 1024 - 512 * 1024) -> bytes:
    """A sheet of one row whose shared-strings table fills the unzipped limit with tiny distinct strings (read whole
    by openpyxl before the first row)."""
    head = (
        '<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    )
    items, size, i = [], len(head) + 6, 0
    while size < limit:
        item = f"<si><t>{i:x}</t></si>"
        items.append(item)
        size += len(item)
        i += 1
    sst = (head + "".join(items) + "</sst>").encode()
    import xlsxwriter  # (its workbooks keep strings in the shared table, openpyxl's inline)

    base = io.BytesIO()
    book = xlsxwriter.Workbook(base, {"in_memory": True})
    book.add_worksheet().write_string(0, 0, "单位")
    book.close()
    source = zipfile.ZipFile(io.BytesIO(base.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = sst if info.filename == "xl/sharedStrings.xml" else source.read(info)
            target.writestr(info.filename, data)
    return out.getvalue()


def shared_strings_within() -> bytes:
    """The largest shared-strings table the limits let through (half the unzipped limit)."""
    return shared_strings(4 * 1024 * 1024 - 16 * 1024)


def dimension_bomb(rows: int = 4000) -> bytes:
    """About 30 KB: a <dimension> claiming every column, then `rows` short rows (the reader before padded each of them
    to 16,384 cells: about half a gigabyte)."""
    body = _row(1, HEADER) + "".join(_row(i, [ROW[0]]) for i in range(2, rows + 2))
    return _patched(_sheet("A1:XFD1048576", body))
