"""Hostile documents built by the tests (nothing large is kept in the repository)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx

_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
)


def docx_bomb(path: Path, paragraphs: int = 300, paragraph_bytes: int = 1 << 20) -> Path:
    """Write a valid DOCX whose document.xml holds ``paragraphs`` paragraphs of ~1 MB each
    (issue 12, item 4: 300 of them pack into ~330 KB and reached 954 MB RSS in python-docx)."""
    base = io.BytesIO()
    docx.Document().save(base)
    para = b"<w:p><w:r><w:t>" + "张".encode() * (paragraph_bytes // 3) + b"</w:t></w:r></w:p>"
    with (
        zipfile.ZipFile(base) as src,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out,
    ):
        for info in src.infolist():
            if info.filename != "word/document.xml":
                out.writestr(info, src.read(info.filename))
                continue
            with out.open("word/document.xml", "w") as w:
                w.write(_HEAD)
                for _ in range(paragraphs):
                    w.write(para)
                w.write(b"</w:body></w:document>")
    return path


def small_docx(path: Path, text: str) -> Path:
    """Write an ordinary DOCX with one paragraph."""
    document = docx.Document()
    document.add_paragraph(text)
    document.save(str(path))
    return path
