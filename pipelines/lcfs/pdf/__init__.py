"""The quarterly LCFS report as a PDF for people (a compliance officer files from it).

reportlab platypus for the layout and reportlab.graphics for the charts. Deterministic: no
clock is read and the PDF metadata are fixed, so the same report gives the same bytes. Totals
are printed with the formatters of ``pipelines.lcfs.render``, so the PDF matches the JSON's
``display`` block.

Modules: ``document`` (assembly, page numbers, header and footer), ``front`` (cover, Before
filing, provenance, sign-off), ``sections`` (totals, monthly volumes, book-and-claim, gaps,
documents, parameters), ``quality`` (completeness, quality metrics, daily trends), ``charts``
(the drawings) and ``style``.
"""

from pipelines.lcfs.pdf.document import render_lcfs_pdf

__all__ = ["render_lcfs_pdf"]
