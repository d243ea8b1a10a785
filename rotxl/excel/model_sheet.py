"""The Model sheet (SPEC §9) and the Pipeline's Learned Probability and Why columns.

The sheet holds what was learned as plain cells a person can read and edit: the table
``ModelWeights`` (one log-odds per feature level), the named cells ModelIntercept, ModelA,
ModelB and ModelAmountEdges, the out-of-fold evaluation and a reliability chart. Learned
Probability is a native formula over them (rotxl.rules.learn.learned_probability_formula), so it
follows edits to the scores with no Python. Why is written by the build as a value.
"""

from __future__ import annotations

from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.table import Table, TableColumn, TableFormula, TableStyleInfo

import pandas as pd

from ..rules import engine, learn
from .cells import put, put_formula, put_row

TITLE = Font(bold=True, size=14)
BOLD = Font(bold=True)
NOTE = Font(italic=True, color="595959")
HEADER_FILL = PatternFill("solid", fgColor="305496")
DERIVED_FILL = PatternFill("solid", fgColor="EDEDED")
WHY_NOTE = ("Written by the build as a value (not a formula): the two feature levels that move this deal's odds "
            "most, and by how much. It is refreshed by the next build, not by edits here.")
LEARNED_NOTE = ("The learned model's chance that this open deal is won: 1 ÷ (1 + EXP(−(ModelA × (ModelIntercept + "
                "the log-odds of the row's levels on the Model sheet) + ModelB))). Follows edits to the scores.")
LEARNED_COLUMNS = (learn.LEARNED, learn.WHY)
WEIGHTS_COLUMN = 8  # the ModelWeights table starts in column H, clear of the blocks on the left


def _header(ws, row: int, values: list[str], first: int = 1) -> None:
    put_row(ws, row, values, first)
    for j in range(first, first + len(values)):
        cell = ws.cell(row, j)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _note(ws, row: int, text: str, font: Font = NOTE) -> None:
    """A line of explanation across the left-hand blocks (A:F), wrapped so it never runs under the weights table."""
    cell = put(ws, row, 1, text)
    cell.font = font
    cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=WEIGHTS_COLUMN - 2)
    ws.row_dimensions[row].height = 15 * max(1, -(-len(text) // 115))


def write(ws, wb, model: learn.Model, money: str = "#,##0") -> None:
    """Fill ``ws`` (the Model sheet) and define its names in ``wb``."""
    put(ws, 1, 1, "Model: learned engagement").font = TITLE
    ws.row_dimensions[1].height = 30  # room for the weights table's wrapped headers
    lines = model.summary() + [
        "Learned Probability (Pipeline) = 1 ÷ (1 + EXP(−(A × (intercept + the log-odds of the deal's levels) + B))). "
        "Edit a log-odds below and the Pipeline follows; the next build relearns them.",
    ]
    for r, text in enumerate(lines, start=2):
        _note(ws, r, text)
    r = len(lines) + 3
    _header(ws, r, ["Setting", "Value", "What it means"])
    named = [
        ("ModelIntercept", "Intercept", model.intercept, "0.0000", "Log-odds of a deal before any of its levels count."),
        ("ModelA", "A (Platt)", model.a, "0.0000", "Platt scaling slope; 1 when scaling did not help on held-out deals."),
        ("ModelB", "B (Platt)", model.b, "0.0000", "Platt scaling shift; 0 when scaling did not help on held-out deals."),
    ]
    for i, (name, label, value, fmt, meaning) in enumerate(named, start=r + 1):
        put_row(ws, i, [label, value, meaning])
        ws.cell(i, 2).number_format = fmt
        wb.defined_names[name] = DefinedName(name, attr_text=f"{quote_sheetname(ws.title)}!$B${i}")
    r += len(named) + 2
    _note(ws, r, "Amount bands: 1 up to the first edge, 5 over the last (the fifths of the amounts learned from).")
    r += 1
    _header(ws, r, ["Amount band edge", "Amount"])
    edges = list(model.edges)
    for i, edge in enumerate(edges, start=r + 1):
        put_row(ws, i, [f"Edge {i - r}", float(edge)])
        ws.cell(i, 2).number_format = money
    wb.defined_names[learn.NAMES["edges"]] = DefinedName(
        learn.NAMES["edges"], attr_text=f"{quote_sheetname(ws.title)}!$B${r + 1}:$B${r + len(edges)}")
    r += len(edges) + 2
    r = _write_evaluation(ws, model, r)
    _write_weights(ws, model)
    for col, width in zip("ABCDEF", (30, 14, 16, 12, 16, 20)):
        ws.column_dimensions[col].width = width
    for j, width in enumerate((12, 24, 22, 14, 11, 9, 8, 8), start=WEIGHTS_COLUMN):
        ws.column_dimensions[get_column_letter(j)].width = width


def _write_evaluation(ws, model: learn.Model, r: int) -> int:
    ev = model.evaluation
    _note(ws, r, f"How good it is: out-of-fold (5-fold) on {ev.rows:,} closed deals", BOLD)
    _note(ws, r + 1, "Brier and log loss: lower is better. AUC: higher is better (0.5 is a coin toss). "
                     "Reliability gap: how far predictions are from what happened.")
    r += 2
    _header(ws, r, ["Method", "Brier", "Log loss", "AUC", "Reliability gap"])
    for i, row in enumerate(ev.metrics.itertuples(index=False), start=r + 1):
        put_row(ws, i, list(row))
        for j, fmt in zip(range(2, 6), ("0.0000", "0.0000", "0.000", "0.0%")):
            ws.cell(i, j).number_format = fmt
    r += len(ev.metrics) + 2
    _note(ws, r, "Reliability of the learned model", BOLD)
    _note(ws, r + 1, "Of the deals it gave 20–30%, about 20–30% should have been won: the closer the two columns, "
                     "the more its percentages can be taken at face value.")
    r += 2
    table = ev.reliability["Learned model"]
    _header(ws, r, ["Predicted", "Deals", "Avg predicted", "Share won"])
    first = r + 1
    for i, row in enumerate(table.itertuples(index=False), start=first):
        put_row(ws, i, [row[0], int(row[1]), *(None if pd.isna(v) else float(v) for v in row[2:])])
        ws.cell(i, 3).number_format = ws.cell(i, 4).number_format = "0.0%"
    last = first + len(table) - 1
    chart = ScatterChart(scatterStyle="lineMarker")  # the schema requires the style element
    chart.title = "Predicted vs won (learned model)"
    chart.style = 13
    chart.x_axis.title = "Average predicted"
    chart.y_axis.title = "Share won"
    chart.x_axis.scaling.min = chart.y_axis.scaling.min = 0
    chart.x_axis.scaling.max = chart.y_axis.scaling.max = 1
    chart.x_axis.number_format = chart.y_axis.number_format = "0%"
    series = Series(Reference(ws, min_col=4, min_row=first, max_row=last), Reference(ws, min_col=3, min_row=first, max_row=last),
                    title="Learned model")
    series.marker.symbol = "circle"
    chart.series.append(series)
    diagonal = Series(Reference(ws, min_col=3, min_row=first, max_row=last), Reference(ws, min_col=3, min_row=first, max_row=last),
                      title="Perfectly reliable")
    chart.series.append(diagonal)
    chart.height, chart.width = 8, 12
    ws.add_chart(chart, f"A{last + 2}")
    return last + 18


def _write_weights(ws, model: learn.Model) -> None:
    table = model.weights_table()
    c0 = WEIGHTS_COLUMN
    headers = list(table.columns)
    _header(ws, 1, headers, c0)
    odds_col = headers.index("Odds ×")
    for i, row in enumerate(table.itertuples(index=False), start=2):
        for j, (h, v) in enumerate(zip(headers, row)):
            if j == odds_col:
                put_formula(ws, i, c0 + j, f"=EXP({learn.NAMES['a']}*{learn.MODEL_TABLE}[[#This Row],[Log-odds]])", "0.00")
                ws.cell(i, c0 + j).fill = DERIVED_FILL
            else:
                put(ws, i, c0 + j, v if not hasattr(v, "item") else v.item(), "0.0000" if h == "Log-odds" else None)
    ref = f"{get_column_letter(c0)}1:{get_column_letter(c0 + len(headers) - 1)}{len(table) + 1}"
    t = Table(displayName=learn.MODEL_TABLE, ref=ref)
    t.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True)
    t.tableColumns = [
        TableColumn(id=j, name=h, calculatedColumnFormula=TableFormula(
            attr_text=f"EXP({learn.NAMES['a']}*{learn.MODEL_TABLE}[[#This Row],[Log-odds]])") if h == "Odds ×" else None)
        for j, h in enumerate(headers, start=1)
    ]
    ws.add_table(t)
    ws.cell(1, c0 + headers.index("Key")).comment = Comment(
        "What the Learned Probability formula matches: the score (0–5), the Amount band (1–5), the text in lower case, "
        "(blank), or (other) for levels too rare to learn from and levels never seen.", "rotxl")


def pipeline_columns(model: learn.Model, pipeline: pd.DataFrame, headers: list[str]) -> tuple[str, list[object]]:
    """Learned Probability's native formula and Why's values, for the Pipeline table to lay out
    as its own columns (SPEC §5: after Engagement). ``pipeline`` holds the table's rows in
    order, under the table's own headers; ``headers`` are all the table's headers."""
    formula = learn.learned_probability_formula(model, engine.this_row("Pipeline"), headers)
    why = list(model.score(pipeline)[1]) if len(pipeline) else []
    return formula, why


def note_pipeline_columns(ws) -> None:
    """The header comments of Learned Probability and Why (Why is a value: the spec asks it to say so)."""
    notes = {learn.LEARNED: LEARNED_NOTE, learn.WHY: WHY_NOTE}
    for cell in ws[1]:
        if cell.value in notes:
            cell.comment = Comment(notes[cell.value], "rotxl")
