"""The workbook's cell formats (a number format, bold or not) and the styles.xml part listing them.

Cells name their format by its index in the list (`s="…"` in the cell XML); index 0 is the default.
"""

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
"""What every part of the package starts with."""
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
"""SpreadsheetML's namespace: of styles.xml, the sheets and the workbook part."""


@dataclass(frozen=True)
class Style:
    """A cell format: a number format (none: General) and whether the font is bold."""

    number_format: str | None = None
    bold: bool = False


class Styles:
    """The workbook's cell formats (styles.xml cellXfs), registered as columns need them."""

    def __init__(self) -> None:
        self._styles: list[Style] = [Style()]
        self.bold = self.index(Style(bold=True))

    def index(self, style: Style) -> int:
        """The index of `style`, registered on first use."""
        if style not in self._styles:
            self._styles.append(style)
        return self._styles.index(style)

    def xml(self) -> str:
        """The styles.xml part: the number formats (no numFmts element when there is none, as XlsxWriter
        writes it), the two fonts and the cell formats."""
        formats = list(dict.fromkeys(s.number_format for s in self._styles if s.number_format))
        format_ids = {code: 164 + i for i, code in enumerate(formats)}
        num_fmts = "".join(
            f"<numFmt numFmtId={quoteattr(str(format_ids[code]))} formatCode={quoteattr(code)}/>"
            for code in formats
        )
        if num_fmts:
            num_fmts = f'<numFmts count="{len(formats)}">{num_fmts}</numFmts>'
        xfs = "".join(
            f'<xf numFmtId="{format_ids.get(style.number_format or "", 0)}" fontId="{int(style.bold)}"'
            f' fillId="0" borderId="0" xfId="0" applyNumberFormat="{int(bool(style.number_format))}"'
            f' applyFont="{int(style.bold)}"/>'
            for style in self._styles
        )
        font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
        return (
            f'{XML_DECLARATION}<styleSheet xmlns="{MAIN_NS}">{num_fmts}'
            f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            f'<cellXfs count="{len(self._styles)}">{xfs}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>"
        )
