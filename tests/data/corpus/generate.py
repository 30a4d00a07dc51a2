#!/usr/bin/env python3
"""Writes the real-world file corpus of tests/tests/all/corpus.rs: each `<name>.<ext>` with its
expected outcome `<name>.expect.json` beside it.

Run from anywhere: `python3 tests/data/corpus/generate.py`. It rewrites every file it owns and
nothing else; the output is byte-for-byte the same on every run (no clocks, no randomness, no
compression library: gzip, zip and PNG bytes are built by hand with stored blocks). Fixtures
copied from real exports (MPDX, csv-spectrum) are read from shared/domain/testdata/ of this repository.

Expectations follow docs/api.md and the field rules of shared/domain/src (fields.rs, validate.rs,
mapping.rs, chunking.rs): they say what the product must do, not what it happens to print.
"""

import hashlib
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
TESTDATA = os.path.join(REPO, "shared", "domain", "testdata")

CONTACT = {"resource_type": "contact"}
CASES = []


def case(name, ext, data, expect):
    """One corpus file and what importing it must give."""
    assert name.replace("_", "").isalnum() and len(name) <= 64, name
    if isinstance(data, str):
        data = data.encode("utf-8")
    assert len(data) < 200 * 1024 or name in ("field_70kb_mapped", "field_70kb_unmapped", "columns_600"), name
    expect.setdefault("body", dict(CONTACT))
    CASES.append((name, ext, data, expect))


def fixture(*path):
    with open(os.path.join(TESTDATA, *path), "rb") as f:
        return f.read()


def completed(stats, **rest):
    return {"status": "completed", "stats": stats, **rest}


def failed(reason, **rest):
    return {"status": "failed", "reason_contains": reason, **rest}


# ---------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------

case(
    "utf8_bom_crlf",
    "csv",
    "\ufeffEmail,First Name,Last Name,City,Country\r\n"
    "ann@example.com,Ann,Müller,Köln,Germany\r\n"
    "bjorn@example.se,Björn,Ångström,Malmö,SE\r\n"
    "chloe@example.fr,Chloé,Lefèvre,Besançon,France\r\n",
    completed(
        {"rows": 3, "created": 3, "errors": 0},
        file={"detected_encoding": "utf-8", "had_bom": True, "delimiter": ",", "line_ending": "crlf"},
        records={
            "ann@example.com": {"first_name": "Ann", "last_name": "Müller", "city": "Köln", "country": "DE"},
            "bjorn@example.se": {"first_name": "Björn", "last_name": "Ångström", "city": "Malmö", "country": "SE"},
        },
    ),
)

# Excel's "CSV UTF-8" in a European locale: BOM, semicolons, CRLF.
case(
    "utf8_bom_semicolon_excel",
    "csv",
    "\ufeffEmail;First Name;Last Name;Company;City\r\n"
    "jan@example.nl;Jan;de Vries;Bakkerij De Molen, B.V.;Zaandam\r\n"
    "zoe@example.fr;Zoë;Dupont;L'Atelier, SARL;Besançon\r\n",
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        file={"detected_encoding": "utf-8", "had_bom": True, "delimiter": ";", "line_ending": "crlf"},
        records={
            "jan@example.nl": {"last_name": "de Vries", "company": "Bakkerij De Molen, B.V."},
            "zoe@example.fr": {"first_name": "Zoë", "company": "L'Atelier, SARL", "city": "Besançon"},
        },
    ),
)

# Names and addresses in many scripts, an internationalized email address, an emoji.
case(
    "utf8_multilingual",
    "csv",
    "Email,First Name,Last Name,City\n"
    "yamada@example.jp,太郎,山田,東京\n"
    "li.wei@example.cn,伟,李,北京\n"
    "omar@example.eg,عمر,الفاروق,القاهرة\n"
    "josé@exämple.de,José 😀,Núñez,Zürich\n",
    completed(
        {"rows": 4, "created": 4, "errors": 0},
        file={"detected_encoding": "utf-8", "had_bom": False, "line_ending": "lf"},
        records={
            "yamada@example.jp": {"first_name": "太郎", "last_name": "山田", "city": "東京"},
            "omar@example.eg": {"last_name": "الفاروق", "city": "القاهرة"},
            "josé@exämple.de": {"first_name": "José 😀", "city": "Zürich"},
        },
    ),
)

# Excel's "Unicode Text" (.txt): UTF-16 LE with BOM, tab-separated, CRLF.
UTF16_ROWS = (
    "Email\tFirst Name\tLast Name\tCity\tCompany\r\n"
    "ann@example.com\tAnn\tMüller\tKöln\tÄrzte, Zahnärzte & Co\r\n"
    "zoe@example.fr\tZoë\tDupont\tBesançon\t\"Chez Zoë\"\r\n"
    "bad-email\tBad\tRow\tNowhere\tNone\r\n"
)
case(
    "utf16le_excel_unicode_text",
    "txt",
    b"\xff\xfe" + UTF16_ROWS.encode("utf-16-le"),
    completed(
        {"rows": 3, "created": 2, "errors": 1},
        errors=[[3, "invalid_email"]],
        file={"detected_encoding": "utf-16le", "had_bom": True, "delimiter": "\t", "line_ending": "crlf"},
        records={
            "ann@example.com": {"last_name": "Müller", "city": "Köln", "company": "Ärzte, Zahnärzte & Co"},
            "zoe@example.fr": {"first_name": "Zoë", "city": "Besançon", "company": "Chez Zoë"},
        },
    ),
)

case(
    "utf16be_bom",
    "csv",
    b"\xfe\xff"
    + (
        "Email,First Name,Last Name,City\n"
        "ann@example.com,Ann,Müller,Köln\n"
        "taro@example.jp,太郎,山田,東京\n"
    ).encode("utf-16-be"),
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        file={"detected_encoding": "utf-16be", "had_bom": True, "delimiter": ",", "line_ending": "lf"},
        records={
            "ann@example.com": {"last_name": "Müller", "city": "Köln"},
            "taro@example.jp": {"first_name": "太郎", "city": "東京"},
        },
    ),
)

# Excel's plain "CSV" on Windows in Germany: Windows-1252 (with its curly quotes and euro sign,
# which ISO-8859-1 does not have), semicolons, CRLF.
case(
    "windows1252_semicolon_excel",
    "csv",
    (
        "Email;First Name;Last Name;City;Company\r\n"
        "jose@example.es;José;Muñoz;Köln;Café „Zürich“ GmbH\r\n"
        "francois@example.fr;François;Lefèvre;Besançon;€uro Händler\r\n"
    ).encode("cp1252"),
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        file={"detected_encoding": "windows-1252", "had_bom": False, "delimiter": ";", "line_ending": "crlf"},
        records={
            "jose@example.es": {"first_name": "José", "last_name": "Muñoz", "city": "Köln", "company": "Café „Zürich“ GmbH"},
            "francois@example.fr": {"first_name": "François", "company": "€uro Händler"},
        },
    ),
)

case(
    "windows1252_comma",
    "csv",
    ("Email,First Name,Last Name,Title\n" "renee@example.fr,Renée,Gaßner,Directrice générale – Ventes\n").encode(
        "cp1252"
    ),
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        file={"detected_encoding": "windows-1252", "delimiter": ",", "line_ending": "lf"},
        records={"renee@example.fr": {"first_name": "Renée", "last_name": "Gaßner", "title": "Directrice générale – Ventes"}},
    ),
)

# ---------------------------------------------------------------------------------------------
# Line endings, delimiters, quoting
# ---------------------------------------------------------------------------------------------

# Classic Mac OS (and Excel for Mac 2011) "CSV": CR only.
case(
    "cr_only_mac",
    "csv",
    "Email,First Name,Last Name\r" "ann@example.com,Ann,Lee\r" "bob@example.com,Bob,Ray\r" "cy@example.com,Cy,Young\r",
    completed(
        {"rows": 3, "created": 3, "errors": 0},
        file={"line_ending": "cr", "delimiter": ","},
        records={"bob@example.com": {"first_name": "Bob", "last_name": "Ray"}, "cy@example.com": {"last_name": "Young"}},
    ),
)

# A file pasted together from several sources.
case(
    "mixed_line_endings",
    "csv",
    "Email,First Name,Last Name\r\n"
    "ann@example.com,Ann,Lee\n"
    "bob@example.com,Bob,Ray\r"
    "cy@example.com,Cy,Young\r\n"
    "dee@example.com,Dee,Ford\n",
    completed(
        {"rows": 4, "created": 4, "errors": 0},
        file={"line_ending": "mixed"},
        records={
            "ann@example.com": {"last_name": "Lee"},
            "bob@example.com": {"last_name": "Ray"},
            "cy@example.com": {"last_name": "Young"},
            "dee@example.com": {"last_name": "Ford"},
        },
    ),
)

case(
    "quoted_newlines_crlf",
    "csv",
    "Email,First Name,Company,Notes\r\n"
    'ann@example.com,Ann,"Acme, ""The Best"" Inc.","Line one\nLine two"\r\n'
    'bob@example.com,Bob,Globex,"Windows line one\r\nWindows line two"\r\n'
    'cy@example.com,"Cy\nJr.",Initech,""\r\n',
    completed(
        {"rows": 3, "created": 3, "errors": 0},
        file={"line_ending": "crlf"},
        records={
            "ann@example.com": {"company": 'Acme, "The Best" Inc.', "custom.notes": "Line one\nLine two"},
            "bob@example.com": {"custom.notes": "Windows line one\r\nWindows line two"},
            "cy@example.com": {"first_name": "Cy\nJr.", "custom.notes": None},
        },
        body={"resource_type": "contact", "mappings": {"Notes": "custom.notes"}},
    ),
)

case(
    "semicolon_delimited",
    "csv",
    "Email;First Name;Last Name;Company;City\n"
    "ann@example.com;Ann;Lee;Smith, Jones & Co;Austin\n"
    "bob@example.com;Bob;Ray;\"Quoted; with semicolon\";Boston\n",
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        file={"delimiter": ";", "line_ending": "lf"},
        records={
            "ann@example.com": {"company": "Smith, Jones & Co", "city": "Austin"},
            "bob@example.com": {"company": "Quoted; with semicolon"},
        },
    ),
)

case(
    "tab_delimited",
    "tsv",
    "email\tfirst_name\tlast_name\tcompany\tcity\n"
    "ann@example.com\tAnn\tLee\tSmith, Jones & Co\tAustin\n"
    "bob@example.com\tBob\tRay\tA; B; C\tBoston\n"
    "cy@example.com\tCy\t\tInitech\t\n",
    completed(
        {"rows": 3, "created": 3, "errors": 0},
        file={"delimiter": "\t", "line_ending": "lf"},
        records={
            "ann@example.com": {"company": "Smith, Jones & Co"},
            "bob@example.com": {"company": "A; B; C"},
            "cy@example.com": {"last_name": None, "company": "Initech"},
        },
    ),
)

case(
    "pipe_delimited",
    "csv",
    "Email|First Name|Last Name|Company\n" "ann@example.com|Ann|Lee|Smith, Jones; Partners\n" "bob@example.com|Bob|Ray|Globex\n",
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        file={"delimiter": "|"},
        records={"ann@example.com": {"company": "Smith, Jones; Partners"}},
    ),
)

# Salesforce-style export: every cell quoted, including the header.
case(
    "all_cells_quoted",
    "csv",
    '"Email","First Name","Last Name","Mailing City","Mailing State","Mailing Country","Title"\r\n'
    '"ann@example.com","Ann","Lee","Austin","TX","United States","VP, Sales"\r\n'
    '"bob@example.com","Bob","Ray","Toronto","ON","Canada",""\r\n',
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        file={"line_ending": "crlf"},
        records={
            "ann@example.com": {"city": "Austin", "region": "TX", "country": "US", "title": "VP, Sales"},
            "bob@example.com": {"country": "CA", "title": None},
        },
    ),
)

case(
    "unterminated_quote",
    "csv",
    "Email,First Name,Notes\n"
    'ann@example.com,Ann,"fine"\n'
    'bob@example.com,Bob,"this quote never closes\n'
    "cy@example.com,Cy,ok\n",
    failed("unterminated quote"),
)

# A quote inside an unquoted cell (an inch mark) is a plain character, also in the last row.
case(
    "inch_mark_in_last_row",
    "csv",
    "Email,First Name,Title\n" "ann@example.com,Ann,Manager\n" 'bob@example.com,Bob,Installer of 12" screens\n',
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        records={"bob@example.com": {"title": 'Installer of 12" screens'}},
    ),
)

case(
    "ragged_rows",
    "csv",
    "Email,First Name,Last Name,City\n"
    "ann@example.com,Ann,Lee,Austin\n"
    "bob@example.com,Bob,Ray\n"
    "cy@example.com,Cy,Young,Boston,extra\n"
    "dee@example.com,Dee,Ford,Denver\n"
    "eve@example.com,Eve,Stone,Miami,\n",
    completed(
        {"rows": 5, "created": 2, "errors": 3},
        errors=[[2, "ragged_row"], [3, "ragged_row"], [5, "ragged_row"]],
        records={"ann@example.com": {"city": "Austin"}, "dee@example.com": {"city": "Denver"}},
    ),
)

# Blank lines are skipped and not counted: the bad row is row 2.
case(
    "blank_lines_between_rows",
    "csv",
    "Email,First Name\n\nann@example.com,Ann\n\nnot-an-email,Bob\n\n\r\n\ncy@example.com,Cy\n\n",
    completed({"rows": 3, "created": 2, "errors": 1}, errors=[[2, "invalid_email"]]),
)

# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------

case(
    "duplicate_header_mapped",
    "csv",
    "Email,First Name,Last Name,First Name\n" "ann@example.com,Ann,Lee,Annie\n",
    failed("more than once"),
)

# Two columns named alike that map to nothing are ignored, not an error.
case(
    "duplicate_header_unmapped",
    "csv",
    "Email,First Name,Note,Note\n" "ann@example.com,Ann,a,b\n" "bob@example.com,Bob,c,d\n",
    completed({"rows": 2, "created": 2, "errors": 0}, records={"ann@example.com": {"first_name": "Ann"}}),
)

# Excel leaves empty header cells over stray columns; unmapped, they are ignored.
case(
    "empty_header_cells",
    "csv",
    "Email,First Name,,Last Name,\n" "ann@example.com,Ann,x,Lee,\n" "bob@example.com,Bob,,Ray,y\n",
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        records={"ann@example.com": {"first_name": "Ann", "last_name": "Lee"}, "bob@example.com": {"last_name": "Ray"}},
    ),
)

# Headers as people type them: case, spacing, punctuation and synonyms.
case(
    "header_synonyms_and_spacing",
    "csv",
    "  E-MAIL ADDRESS ,first name,SURNAME,Mobile,Organisation,Job Title,State/Province,ZIP,Country Code,Favourite Colour\n"
    "  Ann@Example.COM  ,  Ann ,Lee,+1 (512) 555-0100,Acme,CTO,TX,78701,us,blue\n",
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        records={
            "ann@example.com": {
                "first_name": "Ann",
                "last_name": "Lee",
                "phone": "+1 (512) 555-0100",
                "company": "Acme",
                "title": "CTO",
                "region": "TX",
                "postal_code": "78701",
                "country": "US",
            }
        },
    ),
)

case(
    "no_identifier_column",
    "csv",
    "First Name,Last Name,Phone\n" "Ann,Lee,+1 555 0100\n",
    failed("no column maps to the identifier"),
)

# ---------------------------------------------------------------------------------------------
# Empty and not-a-CSV files
# ---------------------------------------------------------------------------------------------

case("empty_file", "csv", b"", failed("empty"))
case("blank_lines_only", "csv", "\r\n\r\n\n", failed("empty"))
# Excel's "CSV UTF-8" of an empty sheet: a BOM and nothing else; the same in UTF-16.
case("bom_only", "csv", b"\xef\xbb\xbf", failed("empty"))
case("utf16le_bom_only", "csv", b"\xff\xfe", failed("empty"))
case(
    "utf16le_header_only",
    "csv",
    b"\xff\xfe" + "Email\tFirst Name\r\n".encode("utf-16-le"),
    completed({"rows": 0, "created": 0, "errors": 0}, file={"detected_encoding": "utf-16le", "had_bom": True}),
)
case(
    "header_only",
    "csv",
    "Email,First Name,Last Name\r\n",
    completed({"rows": 0, "created": 0, "errors": 0}, errors=[]),
)
case("header_only_no_newline", "csv", "email", completed({"rows": 0, "created": 0, "errors": 0}))


def noise(n, seed):
    """Deterministic bytes that look random."""
    out = b""
    block = seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return out[:n]


garbage = bytearray(noise(4096, b"corpus binary garbage"))
garbage[0:4] = b"\x00\x13\x7f\x02"  # not a BOM or a known signature
case("binary_garbage", "bin", bytes(garbage), failed("binary"))

# No NUL at all, but mostly control and high bytes.
no_nul = bytes((b % 31) + 1 if b < 0x80 else b for b in noise(2048, b"corpus control garbage"))
case("binary_control_bytes", "bin", no_nul, failed("binary"))


def gzip_stored(data, name):
    """A gzip member with one stored (uncompressed) deflate block, mtime 0."""
    header = b"\x1f\x8b\x08\x08" + b"\x00\x00\x00\x00" + b"\x00\xff" + name + b"\x00"
    assert len(data) < 65536
    block = b"\x01" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data
    return header + block + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data))


CONTACTS = b"Email,First Name,Last Name\nann@example.com,Ann,Lee\nbob@example.com,Bob,Ray\n"
case("gzip_sent_as_csv", "gz", gzip_stored(CONTACTS, b"contacts.csv"), failed("gzip"))


def zip_stored(files):
    """A ZIP archive of stored files, dated 1980-01-01."""
    local, central, offset = b"", b"", 0
    for name, data in files:
        crc = zlib.crc32(data) & 0xFFFFFFFF
        head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0)
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0, 0, 0, 0, 0, offset
        ) + name
        entry = head + name + data
        local += entry
        offset += len(entry)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(files), len(files), len(central), offset, 0)
    return local + central + end


XLSX = zip_stored(
    [
        (
            b"[Content_Types].xml",
            b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            b'<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>',
        ),
        (b"xl/workbook.xml", b'<?xml version="1.0"?><workbook><sheets><sheet name="Contacts" sheetId="1"/></sheets></workbook>'),
        (b"xl/worksheets/sheet1.xml", b"<worksheet><sheetData><row><c t=\"inlineStr\"><is><t>Email</t></is></c></row></sheetData></worksheet>"),
    ]
)
case("xlsx_workbook", "xlsx", XLSX, failed("zip"))


def png_1x1():
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"\x00\xff\xff\xff"  # filter 0, one white RGB pixel
    stored = b"\x78\x01" + b"\x01" + struct.pack("<HH", len(raw), len(raw) ^ 0xFFFF) + raw + struct.pack(">I", zlib.adler32(raw))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stored) + chunk(b"IEND", b"")


case("png_image", "png", png_1x1(), failed("binary"))

# ---------------------------------------------------------------------------------------------
# JSON and JSON Lines
# ---------------------------------------------------------------------------------------------

JSON_ARRAY = [
    {
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": None,
        "tags": ["vip", "beta"],
        "status": "subscribed",
        "custom": {"plan": "gold", "seats": 5, "trial": False},
    },
    {"email": "Bob@Example.com", "first_name": "Bob", "phone": "+1 555 0100", "postal_code": 2134, "custom": {"plan": "silver"}},
    {"email": "not-an-email", "first_name": "Cy"},
]
case(
    "json_array",
    "json",
    json.dumps(JSON_ARRAY, indent=2, ensure_ascii=False) + "\n",
    completed(
        {"rows": 3, "created": 2, "errors": 1},
        errors=[[3, "invalid_email"]],
        body={"resource_type": "contact", "format": "json"},
        records={
            "ann@example.com": {
                "first_name": "Ann",
                "last_name": None,
                "tags": ["vip", "beta"],
                "status": "subscribed",
                "custom.plan": "gold",
                "custom.seats": "5",
                "custom.trial": "false",
            },
            "bob@example.com": {"phone": "+1 555 0100", "postal_code": "2134", "custom.plan": "silver"},
        },
    ),
)

case(
    "jsonl_lines",
    "jsonl",
    '{"email": "ann@example.com", "first_name": "Ann", "country": "Germany"}\r\n'
    "\r\n"
    '{"email": "bob@example.com", "first_name": "Bob", "city": "Köln"}\n'
    "\n"
    '{"email": "cy@example.com", "first_name": "Cy", "country": "Atlantis"}\n',
    completed(
        {"rows": 3, "created": 2, "errors": 1},
        errors=[[3, "unknown_country"]],
        body={"resource_type": "contact", "format": "jsonl"},
        records={"ann@example.com": {"country": "DE"}, "bob@example.com": {"city": "Köln", "country": None}},
    ),
)

case(
    "json_invalid",
    "json",
    '[\n  {"email": "ann@example.com", "first_name": "Ann"},\n  {"email": "bob@example.com" "first_name": "Bob"}\n]\n',
    failed("invalid json", body={"resource_type": "contact", "format": "json"}),
)

case(
    "json_not_an_array",
    "json",
    '{"contacts": [{"email": "ann@example.com", "first_name": "Ann"}]}\n',
    failed("not an array", body={"resource_type": "contact", "format": "json"}),
)

case(
    "json_element_not_object",
    "json",
    '[{"email": "ann@example.com", "first_name": "Ann"}, "bob@example.com"]\n',
    failed("not an object", body={"resource_type": "contact", "format": "json"}),
)

# An empty file is an empty file whatever its declared format.
case("json_empty_file", "json", b"", failed("empty", body={"resource_type": "contact", "format": "json"}))
case("jsonl_empty_file", "jsonl", b"", failed("empty", body={"resource_type": "contact", "format": "jsonl"}))

case(
    "jsonl_line_not_object",
    "jsonl",
    '{"email": "ann@example.com"}\n["bob@example.com", "Bob"]\n',
    failed("not an object", body={"resource_type": "contact", "format": "jsonl"}),
)

case(
    "jsonl_invalid_line",
    "jsonl",
    '{"email": "ann@example.com", "first_name": "Ann"}\n{"email": "bob@example.com", "first_name": }\n',
    failed("invalid json", body={"resource_type": "contact", "format": "jsonl"}),
)

# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------

BIG = "x" * (70 * 1024)
case(
    "field_70kb_mapped",
    "csv",
    "Email,First Name,Last Name\n" "ann@example.com,Ann,Lee\n" f"bob@example.com,{BIG},Ray\n" "cy@example.com,Cy,Young\n",
    completed(
        {"rows": 3, "created": 2, "errors": 1},
        errors=[[2, "value_too_long"]],
        records={"ann@example.com": {"first_name": "Ann"}, "cy@example.com": {"first_name": "Cy"}},
    ),
)

case(
    "field_70kb_unmapped",
    "csv",
    "Email,First Name,Comments\n" f'ann@example.com,Ann,"{BIG}"\n' "bob@example.com,Bob,short\n",
    completed({"rows": 2, "created": 2, "errors": 0}, records={"ann@example.com": {"first_name": "Ann"}}),
)

# A short-text field over its 1 KB rule, and the other field rules, in one file.
case(
    "contact_field_rules",
    "csv",
    "Email,First Name,Phone,Country,Status\n"
    "ann@example.com,Ann,+44 20 7946 0958,UK,Subscribed\n"
    f"bob@example.com,{'B' * 1025},,,\n"
    "cy@example.com,Cy,call me maybe,,\n"
    "dee@example.com,Dee,,Narnia,\n"
    "eve@example.com,Eve,,,maybe\n"
    ",Nobody,,,\n"
    "fay@example,Fay,,,\n",
    completed(
        {"rows": 7, "created": 1, "errors": 6},
        errors=[
            [2, "value_too_long"],
            [3, "invalid_phone"],
            [4, "unknown_country"],
            [5, "invalid_value"],
            [6, "missing_identifier"],
            [7, "invalid_email"],
        ],
        records={"ann@example.com": {"phone": "+44 20 7946 0958", "country": "GB", "status": "subscribed"}},
    ),
)


def wide(n):
    header = ["Email", "First Name"] + [f"Extra Column {i}" for i in range(3, n + 1)]
    rows = [
        ["ann@example.com", "Ann"] + [f"a{i}" for i in range(3, n + 1)],
        ["bob@example.com", "Bob"] + [f"b{i}" for i in range(3, n + 1)],
    ]
    return "".join(",".join(r) + "\n" for r in [header] + rows)


case("columns_600", "csv", wide(600), failed("columns"))
case(
    "columns_500",
    "csv",
    wide(500),
    completed({"rows": 2, "created": 2, "errors": 0}, records={"bob@example.com": {"first_name": "Bob"}}),
)

# ---------------------------------------------------------------------------------------------
# Duplicates, formulas
# ---------------------------------------------------------------------------------------------

case(
    "duplicates_letter_case",
    "csv",
    "Email,First Name\n"
    "Ann@Example.com,Ann1\n"
    "bob@example.com,Bob1\n"
    "ann@example.com,Ann2\n"
    "ANN@EXAMPLE.COM,Ann3\n"
    " Bob@Example.COM ,Bob2\n",
    completed(
        {"rows": 5, "created": 2, "errors": 0, "duplicates": 3},
        errors=[],
        records={"ann@example.com": {"first_name": "Ann3"}, "bob@example.com": {"first_name": "Bob2"}},
    ),
)

case(
    "duplicates_error_policy",
    "csv",
    "Email,First Name\n" "Ann@Example.com,Ann1\n" "bob@example.com,Bob\n" "ANN@example.COM,Ann2\n",
    completed(
        {"rows": 3, "created": 1, "errors": 2, "duplicates": 2},
        errors=[[1, "duplicate_identifier"], [3, "duplicate_identifier"]],
        body={"resource_type": "contact", "duplicates": "error"},
        records={"bob@example.com": {"first_name": "Bob"}},
    ),
)

case(
    "formula_injection",
    "csv",
    "Email,First Name,Last Name,Company,Notes\n"
    'ann@example.com,"=HYPERLINK(""http://evil.example/"",""Click"")",Lee,+1 555 0100 Inc,@SUM(A1:A9)\n'
    "bob@example.com,Bob,-Minus,\"=cmd|' /C calc'!A0\",ok\n"
    "=1+1,Cy,Young,Acme,\"=2+3\"\n",
    completed(
        {"rows": 3, "created": 2, "errors": 1},
        errors=[[3, "invalid_email"]],
        body={"resource_type": "contact", "mappings": {"Notes": "custom.notes"}},
        records={
            "ann@example.com": {
                "first_name": '=HYPERLINK("http://evil.example/","Click")',
                "company": "+1 555 0100 Inc",
                "custom.notes": "@SUM(A1:A9)",
            },
            "bob@example.com": {"last_name": "-Minus", "company": "=cmd|' /C calc'!A0"},
        },
    ),
)

# ---------------------------------------------------------------------------------------------
# Accounts and groups
# ---------------------------------------------------------------------------------------------

case(
    "accounts_crm_export",
    "csv",
    "Account ID,Account Name,Website,Industry,Phone,City,Country,Number of Employees,Annual Revenue\n"
    'ACC-001,Acme Corp,https://www.Acme.example.com/about,Manufacturing,+1 (555) 010-0100,Springfield,United States,"1,200",1234567.89\n'
    "ACC-002,Globex GmbH,globex.de,Energy,+49 30 1234567,Berlin,DEU,85,-2500.50\n"
    "ACC-003,Initech,initech.example,Software,,Austin,US,lots,100\n"
    "ACC-004,Umbrella,umbrella.example,Pharma,,London,Atlantis,10,10\n"
    "ACC-005,Hooli,not a domain,Tech,,,US,10,10\n"
    ",Nameless Ltd,nameless.example,,,,,,\n"
    "ACC-007,Soylent,soylent.example,Food,,,,12,$12\n",
    completed(
        {"rows": 7, "created": 2, "errors": 5},
        errors=[
            [3, "wrong_type"],
            [4, "unknown_country"],
            [5, "invalid_domain"],
            [6, "missing_identifier"],
            [7, "wrong_type"],
        ],
        body={"resource_type": "account"},
        records={
            "ACC-001": {
                "name": "Acme Corp",
                "domain": "www.acme.example.com",
                "industry": "Manufacturing",
                "phone": "+1 (555) 010-0100",
                "city": "Springfield",
                "country": "US",
                "employees": 1200,
                "annual_revenue": "1234567.89",
            },
            "ACC-002": {"domain": "globex.de", "country": "DE", "employees": 85, "annual_revenue": "-2500.50"},
        },
    ),
)

# An ERP export: Windows-1252, semicolons, CRLF.
case(
    "accounts_erp_windows1252",
    "csv",
    (
        "Account ID;Account Name;City;Country;Employees\r\n"
        "K-100;Müller & Söhne KG;Düsseldorf;Germany;1 200\r\n"
        "K-101;Société Générale;Paris;France;120\r\n"
    ).encode("cp1252"),
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        body={"resource_type": "account"},
        file={"detected_encoding": "windows-1252", "delimiter": ";", "line_ending": "crlf"},
        records={
            "K-100": {"name": "Müller & Söhne KG", "city": "Düsseldorf", "country": "DE", "employees": 1200},
            "K-101": {"name": "Société Générale", "country": "FR"},
        },
    ),
)

case(
    "accounts_no_id_column",
    "csv",
    "Account Name,Website\nAcme,acme.example\n",
    failed("no column maps to the identifier", body={"resource_type": "account"}),
)

# Group names are not emails: matching keeps their case, so these are two groups.
case(
    "groups_mailing_lists",
    "csv",
    "List Name,Description,Tags\n"
    'Newsletter,Monthly newsletter subscribers,"marketing; monthly"\n'
    "newsletter,lower-case twin,\n"
    'Donors 2024,"Gave in 2024, any amount",finance\n'
    ",no name,\n",
    completed(
        {"rows": 4, "created": 3, "errors": 1},
        errors=[[4, "missing_identifier"]],
        body={"resource_type": "group"},
        records={
            "Newsletter": {"description": "Monthly newsletter subscribers", "tags": ["marketing", "monthly"]},
            "newsletter": {"description": "lower-case twin"},
            "Donors 2024": {"description": "Gave in 2024, any amount", "tags": ["finance"]},
        },
    ),
)

# ---------------------------------------------------------------------------------------------
# Declared dialects, more JSON shapes
# ---------------------------------------------------------------------------------------------

# UTF-16 LE without a BOM cannot be told from binary; the client says what it is.
case(
    "utf16le_no_bom_declared",
    "csv",
    ("Email,First Name,City\r\n" "ann@example.com,Ann,Köln\r\n" "taro@example.jp,太郎,東京\r\n").encode("utf-16-le"),
    completed(
        {"rows": 2, "created": 2, "errors": 0},
        body={"resource_type": "contact", "csv": {"encoding": "utf-16le"}},
        file={"detected_encoding": "utf-16le", "had_bom": False, "line_ending": "crlf"},
        records={"ann@example.com": {"city": "Köln"}, "taro@example.jp": {"first_name": "太郎"}},
    ),
)

# A file without a header row: its columns are column_1, column_2, ...; rows count from the first line.
case(
    "headerless_declared",
    "csv",
    "ann@example.com,Ann,Lee\nnot-an-email,Bob,Ray\ncy@example.com,Cy,Young\n",
    completed(
        {"rows": 3, "created": 2, "errors": 1},
        errors=[[2, "invalid_email"]],
        body={
            "resource_type": "contact",
            "csv": {"has_header": False},
            "mappings": {"column_1": "email", "column_2": "first_name", "column_3": "last_name"},
        },
        records={"ann@example.com": {"first_name": "Ann", "last_name": "Lee"}, "cy@example.com": {"last_name": "Young"}},
    ),
)

# PowerShell's `Out-File -Encoding utf8` writes a BOM before the JSON.
case(
    "json_utf8_bom",
    "json",
    "\ufeff" + json.dumps([{"email": "ann@example.com", "first_name": "Ann"}]) + "\r\n",
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        body={"resource_type": "contact", "format": "json"},
        records={"ann@example.com": {"first_name": "Ann"}},
    ),
)

# Values that need quoting once the objects are rows, and a key first seen in the last object.
case(
    "json_values_needing_quotes",
    "json",
    json.dumps(
        [
            {"email": "ann@example.com", "company": 'Acme, "The Best" Inc.', "custom": {"notes": "line one\nline two"}},
            {"email": "bob@example.com", "company": "=HYPERLINK(\"http://evil.example/\")", "custom": {"notes": "a\r\nb; c"}},
            {"email": "cy@example.com", "city": "Zürich", "custom": {"late": "first seen here"}},
        ],
        indent=1,
        ensure_ascii=False,
    ),
    completed(
        {"rows": 3, "created": 3, "errors": 0},
        body={"resource_type": "contact", "format": "json"},
        records={
            "ann@example.com": {"company": 'Acme, "The Best" Inc.', "custom.notes": "line one\nline two", "city": None},
            "bob@example.com": {"company": "=HYPERLINK(\"http://evil.example/\")", "custom.notes": "a\r\nb; c"},
            "cy@example.com": {"city": "Zürich", "custom.late": "first seen here", "company": None},
        },
    ),
)

# JSON numbers and lists feed typed account fields.
case(
    "accounts_json",
    "json",
    json.dumps(
        [
            {
                "external_id": "A-1",
                "name": "Acme",
                "employees": 1200,
                "annual_revenue": 1234567.89,
                "domain": "https://www.acme.example/",
                "tags": ["b2b", "eu"],
            },
            {"external_id": 42, "name": "Numeric Id Ltd", "employees": "many"},
            {"external_id": 43, "name": "Half", "employees": 12.5},
        ],
        indent=2,
    ),
    completed(
        {"rows": 3, "created": 1, "errors": 2},
        errors=[[2, "wrong_type"], [3, "wrong_type"]],
        body={"resource_type": "account", "format": "json"},
        records={
            "A-1": {
                "name": "Acme",
                "employees": 1200,
                "annual_revenue": "1234567.89",
                "domain": "www.acme.example",
                "tags": ["b2b", "eu"],
            }
        },
    ),
)

# ---------------------------------------------------------------------------------------------
# Files of more than one chunk (2,000 rows each by default): formats that are staged or cut at
# byte offsets must keep rows whole and numbered across chunk boundaries.
# ---------------------------------------------------------------------------------------------


def multichunk_cr_only():
    rows = ["Email,First Name,Notes"]
    for i in range(1, 2101):
        email = f"p{i}@example.com" if i not in (2001, 2100) else f"broken-{i}"
        notes = '"line a\rline b"' if i in (1999, 2000, 2001, 2002) else f"n{i}"
        rows.append(f"{email},Ann{i},{notes}")
    return "\ufeff" + "\r".join(rows) + "\r"


case(
    "multichunk_cr_only_bom",
    "csv",
    multichunk_cr_only(),
    completed(
        {"rows": 2100, "created": 2098, "errors": 2},
        errors=[[2001, "invalid_email"], [2100, "invalid_email"]],
        body={"resource_type": "contact", "mappings": {"Notes": "custom.notes"}},
        file={"had_bom": True, "line_ending": "cr"},
        records={
            "p1@example.com": {"first_name": "Ann1", "custom.notes": "n1"},
            "p2000@example.com": {"first_name": "Ann2000", "custom.notes": "line a\rline b"},
            "p2002@example.com": {"first_name": "Ann2002", "custom.notes": "line a\rline b"},
            "p2099@example.com": {"first_name": "Ann2099"},
        },
    ),
)


def multichunk_utf16():
    rows = ["Email,First Name,City,Country"]
    for i in range(1, 2101):
        country = "Atlantis" if i == 2050 else "Narnia" if i == 3 else "DE"
        name = f'"Zoë\r\n{i}"' if i == 2001 else f"Zoë{i}"
        rows.append(f"z{i}@example.de,{name},Köln,{country}")
    return b"\xff\xfe" + ("\r\n".join(rows) + "\r\n").encode("utf-16-le")


case(
    "multichunk_utf16le",
    "csv",
    multichunk_utf16(),
    completed(
        {"rows": 2100, "created": 2098, "errors": 2},
        errors=[[3, "unknown_country"], [2050, "unknown_country"]],
        file={"detected_encoding": "utf-16le", "had_bom": True},
        records={
            "z1@example.de": {"first_name": "Zoë1", "city": "Köln", "country": "DE"},
            "z2001@example.de": {"first_name": "Zoë\r\n2001"},
            "z2100@example.de": {"first_name": "Zoë2100", "city": "Köln"},
        },
    ),
)


def multichunk_cp1252():
    rows = ["Email;First Name;Last Name;City"]
    for i in range(1, 2051):
        if i == 2010:
            rows.append(f"m{i}@example.de;Jürgen;Müller")
        else:
            rows.append(f"m{i}@example.de;Jürgen{i};Müller;Düsseldorf")
    return ("\r\n".join(rows) + "\r\n").encode("cp1252")


case(
    "multichunk_windows1252",
    "csv",
    multichunk_cp1252(),
    completed(
        {"rows": 2050, "created": 2049, "errors": 1},
        errors=[[2010, "ragged_row"]],
        file={"detected_encoding": "windows-1252", "delimiter": ";", "line_ending": "crlf"},
        records={
            "m2001@example.de": {"first_name": "Jürgen2001", "last_name": "Müller", "city": "Düsseldorf"},
            "m2050@example.de": {"city": "Düsseldorf"},
        },
    ),
)


def multichunk_jsonl():
    lines = []
    for i in range(1, 2101):
        obj = {"email": f"j{i}@example.com" if i != 2075 else "j2075(at)example.com", "first_name": f"J{i}"}
        if i == 2050:
            obj["custom"] = {"vip": "yes"}
        lines.append(json.dumps(obj))
        if i % 100 == 0:
            lines.append("")
    return "\n".join(lines) + "\n"


case(
    "multichunk_jsonl",
    "jsonl",
    multichunk_jsonl(),
    completed(
        {"rows": 2100, "created": 2099, "errors": 1},
        errors=[[2075, "invalid_email"]],
        body={"resource_type": "contact", "format": "jsonl"},
        records={
            "j2050@example.com": {"first_name": "J2050", "custom.vip": "yes"},
            "j2051@example.com": {"first_name": "J2051", "custom.vip": None},
            "j2100@example.com": {"first_name": "J2100"},
        },
    ),
)


def multichunk_duplicates():
    rows = ["Email,First Name"]
    for i in range(1, 2011):
        if i == 3:
            rows.append("Dup@Example.com,Early")
        elif i == 2005:
            rows.append("dup@example.COM,Late")
        else:
            rows.append(f"d{i}@example.com,D{i}")
    return "\n".join(rows) + "\n"


case(
    "multichunk_duplicates",
    "csv",
    multichunk_duplicates(),
    completed(
        {"rows": 2010, "created": 2009, "errors": 0, "duplicates": 1},
        errors=[],
        records={"dup@example.com": {"first_name": "Late"}},
    ),
)

# ---------------------------------------------------------------------------------------------
# MPDX exports (shared/domain/testdata/mpdx-fixtures): real CRM files with their own columns
# ---------------------------------------------------------------------------------------------

JOHN = {
    "first_name": "John",
    "last_name": "Doe",
    "city": "Sample City",
    "region": "IL",
    "postal_code": "60201",
    "tags": ["christmas-card", "family"],
    "phone": "(213) 222-3333",
}
PARTNER = {"status": {"Partner - Pray": "subscribed"}}
PRAYING = {"status": {"Praying": "subscribed", "Praying and giving": "subscribed"}}

case(
    "mpdx_with_bom",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_with_bom.csv"),
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        body={"resource_type": "contact", "value_mappings": PARTNER},
        file={"detected_encoding": "utf-8", "had_bom": True, "delimiter": ",", "line_ending": "lf"},
        records={"john@example.com": {**JOHN, "country": "US", "status": "subscribed"}},
    ),
)

# "Lané" in ISO-8859-1 (decoded as its superset Windows-1252), CRLF; no email, so as an account.
case(
    "mpdx_iso_8859_1",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_iso_8950_1.csv"),
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        body={"resource_type": "account", "mappings": {"Contact Name": "external_id", "Last Name": "name"}},
        file={"detected_encoding": "windows-1252", "line_ending": "crlf"},
        records={"Lané, John": {"name": "Lané"}},
    ),
)

# The same row as a contact: no email, so a row error.
case(
    "mpdx_iso_8859_1_as_contact",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_iso_8950_1.csv"),
    completed({"rows": 1, "created": 0, "errors": 1}, errors=[[1, "missing_identifier"]]),
)

# MPDX's status "Partner - Pray" is not a contact status: a row error as it is.
case(
    "mpdx_to_import",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_to_import.csv"),
    completed({"rows": 1, "created": 0, "errors": 1}, errors=[[1, "invalid_value"]]),
)

case(
    "mpdx_inconsistent_newlines",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_inconsistent_newlines.csv"),
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        body={"resource_type": "contact", "mappings": {"Status": None}},
        records={"john@example.com": {**JOHN, "country": "US", "status": None}},
    ),
)

case(
    "mpdx_with_none",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_with_none.csv"),
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        body={"resource_type": "contact", "value_mappings": PARTNER},
        records={"john@example.com": {**JOHN, "country": None, "status": "subscribed"}},
    ),
)

case(
    "mpdx_custom_headers",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_with_custom_headers.csv"),
    completed(
        {"rows": 3, "created": 3, "errors": 0},
        body={"resource_type": "contact", "value_mappings": PRAYING},
        records={
            "john@example.com": {**JOHN, "country": "US", "status": "subscribed"},
            "bob@park.com": {"first_name": "Bob", "region": "Quebec", "postal_code": "L8D 3B9", "country": "CA", "tags": ["bob"]},
            "joe@inter.net": {"first_name": "Joe", "city": "Big City", "country": "CA", "phone": "123.456.7890", "postal_code": None},
        },
    ),
)

case(
    "mpdx_some_invalid_rows",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_with_some_invalid_rows.csv"),
    completed(
        {"rows": 4, "created": 2, "errors": 2},
        body={"resource_type": "contact", "value_mappings": PRAYING},
        errors=[[2, "invalid_email"], [4, "missing_identifier"]],
        records={"joe@inter.net": {"first_name": None, "city": "Big City"}},
    ),
)

case(
    "mpdx_blank_rows",
    "csv",
    fixture("mpdx-fixtures", "sample_csv_blank.csv"),
    completed(
        {"rows": 2, "created": 0, "errors": 2},
        errors=[[1, "missing_identifier"], [2, "missing_identifier"]],
    ),
)

case(
    "mpdx_csv_invalid",
    "csv",
    fixture("mpdx-fixtures", "csv_invalid.csv"),
    completed(
        {"rows": 1, "created": 0, "errors": 1},
        errors=[[1, "invalid_value"], [1, "invalid_email"], [1, "invalid_phone"]],
    ),
)

case(
    "mpdx_employee_data",
    "csv",
    fixture("mpdx-fixtures", "employee_csv_importer", "sample_employee_data.csv"),
    completed(
        {"rows": 100, "created": 100, "errors": 0, "duplicates": 0},
        records={
            "adah@kling.biz": {"first_name": "Adah", "last_name": "Huels"},
            "rosie@satterfield.com": {"first_name": "Rosie", "last_name": "Schmidt"},
        },
    ),
)

case(
    "mpdx_employee_invalid_headers",
    "csv",
    fixture("mpdx-fixtures", "employee_csv_importer", "invalid_headers_sample.csv"),
    failed("no column maps to the identifier"),
)

# TntConnect export: BOM, every header quoted, 167 columns, CRLF rows with LF inside quotes.
case(
    "mpdx_tnt_export",
    "csv",
    fixture("mpdx-fixtures", "tnt", "tnt_export.csv"),
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        body={"resource_type": "account", "mappings": {"ContactID": "external_id", "Full Name": "name"}},
        file={"detected_encoding": "utf-8", "had_bom": True, "line_ending": "crlf"},
        records={"1": {"name": "Josh and Amanda Starcher", "phone": "(555) 555-5555"}},
    ),
)

# The same export saved badly: Windows-1252 garbage before the first header, a CR after the
# header, LF only inside quotes. The garbled header is still a name the user can map.
case(
    "mpdx_tnt_export_bad",
    "csv",
    fixture("mpdx-fixtures", "tnt", "tnt_export_bad.csv"),
    completed(
        {"rows": 1, "created": 1, "errors": 0},
        body={"resource_type": "account", "mappings": {"\u2022\u00c8\u00c0\"ContactID\"": "external_id", "Full Name": "name"}},
        file={"detected_encoding": "windows-1252", "had_bom": False, "line_ending": "cr"},
        records={"1": {"name": "Josh and Amanda Starcher"}},
    ),
)

# ---------------------------------------------------------------------------------------------
# csv-spectrum (shared/domain/testdata/csv-spectrum): imported as groups, one column as the name and
# the others as custom fields; the records must hold csv-spectrum's expected values.
# ---------------------------------------------------------------------------------------------


def spectrum(name, name_column, expected_rows, file=None):
    data = fixture("csv-spectrum", "csvs", f"{name}.csv")
    header = data.split(b"\n")[0].decode().rstrip("\r").split(",")
    mappings = {h: ("name" if h == name_column else f"custom.{h.lower().replace(' ', '_')}") for h in header}
    records = {}
    for row in expected_rows:
        fields = {}
        for h, v in row.items():
            if h != name_column:
                fields[mappings[h]] = v if v.strip() else None
        records[row[name_column]] = fields
    rest = {"file": file} if file else {}
    case(
        f"spectrum_{name}",
        "csv",
        data,
        completed(
            {"rows": len(expected_rows), "created": len(expected_rows), "errors": 0},
            body={"resource_type": "group", "mappings": mappings},
            records=records,
            **rest,
        ),
    )


def spectrum_json(name):
    return json.loads(fixture("csv-spectrum", "json", f"{name}.json"))


spectrum("comma_in_quotes", "first", spectrum_json("comma_in_quotes"))
spectrum("empty", "a", spectrum_json("empty"))
spectrum("empty_crlf", "a", spectrum_json("empty_crlf"), file={"line_ending": "crlf"})
spectrum("escaped_quotes", "a", spectrum_json("escaped_quotes"))
spectrum("json", "key", spectrum_json("json"))
# csv-spectrum's JSON for this file is an object with another phone number; the CSV holds U+FFFD
# (valid UTF-8) where a degree sign was. The expectation is the CSV's own row.
spectrum(
    "location_coordinates",
    "Contact Phone Number",
    [
        {
            "Contact Phone Number": "2095257564",
            "Location Coordinates": "37\ufffd36'37.8\"N 121\ufffd2'17.9\"W",
            "Cities": "Modesto",
            "Counties": "Stanislaus",
        }
    ],
)
spectrum("newlines", "c", spectrum_json("newlines"))
spectrum("newlines_crlf", "c", spectrum_json("newlines_crlf"), file={"line_ending": "crlf"})
spectrum("quotes_and_newlines", "a", spectrum_json("quotes_and_newlines"))
spectrum("simple", "a", spectrum_json("simple"))
spectrum("simple_crlf", "a", spectrum_json("simple_crlf"), file={"line_ending": "crlf"})
spectrum("utf8", "a", spectrum_json("utf8"))


def pretty(value, indent=0):
    """JSON, indented, with lists of plain values (an error's [row, code], tags) on one line."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {pretty(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + pretty(v, indent + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def main():
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "case names are unique"
    keep = {"generate.py"}
    for name, ext, data, expect in CASES:
        order = ["body", "status", "reason_contains", "stats", "errors", "file", "records"]
        assert set(expect) <= set(order), (name, set(expect) - set(order))
        ordered = {k: expect[k] for k in order if k in expect}
        for file_name, content in [
            (f"{name}.{ext}", data),
            (f"{name}.expect.json", (pretty(ordered) + "\n").encode("utf-8")),
        ]:
            keep.add(file_name)
            with open(os.path.join(HERE, file_name), "wb") as f:
                f.write(content)
    stale = sorted(set(os.listdir(HERE)) - keep)
    for file_name in stale:
        os.remove(os.path.join(HERE, file_name))
    print(f"{len(CASES)} cases written to {HERE}" + (f"; removed {stale}" if stale else ""))


if __name__ == "__main__":
    main()
