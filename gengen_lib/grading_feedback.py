"""One submission's feedback as a self-contained HTML page: per exercise, passed or why not, and the hint.

Everything that comes from a submission (its file name, its exceptions' messages inside the
checkers' diagnoses) is escaped; the page loads nothing and runs no script.
"""

from __future__ import annotations

import html

from .grading_report import Report

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 1.5rem; }
table { border-collapse: collapse; width: 100%; }
td, th { padding: .4rem .6rem; vertical-align: top; text-align: left; }
tr { border-bottom: 1px solid #ddd; } th { background: #f3f3f3; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #b3261e; font-weight: 600; }
.points { white-space: nowrap; text-align: right; } details { margin-top: .3rem; color: #444; }
summary { cursor: pointer; color: #555; } pre { white-space: pre-wrap; margin: .3rem 0; font-size: 13px; }
.notes { background: #fff6e0; padding: .5rem 1rem; border-radius: 4px; }
"""


def feedback_page(report: Report, hints: dict[str, str], possible: int) -> str:
    """The page for one submission: a header with the total, then one row per exercise by family."""
    name = html.escape(report.file)
    rows, family = [], None
    for outcome in report.outcomes:
        exercise = outcome.exercise
        if exercise.family != family:
            family = exercise.family
            rows.append(f'<tr><th colspan="3">{html.escape(_FAMILY_TITLES.get(family, family))}</th></tr>')
        verdict = ('<span class="pass">✓ passed</span>' if outcome.passed
                   else '<span class="fail">✗ not yet</span> — ' + html.escape(outcome.detail))  # fmt: skip
        hint = hints.get(exercise.name)
        if hint and not outcome.passed:
            verdict += f"<details><summary>Hint</summary><pre>{html.escape(hint)}</pre></details>"
        rows.append(f"<tr><td><code>{html.escape(exercise.name)}</code></td><td>{verdict}</td>"
                    f'<td class="points">{outcome.points} / {exercise.points}</td></tr>')  # fmt: skip
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    notes_block = f'<div class="notes"><h2>Notes</h2><ul>{notes}</ul></div>' if notes else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Feedback: {name}</title><style>{STYLE}</style></head>
<body>
<h1>Exercises feedback: {name}</h1>
<p><strong>{report.total} of {possible} points.</strong> Each function was run on the checkers' own random
inputs and compared with the reference; a multi-step exercise's result is measured with your functions.</p>
{notes_block}
<table><tr><th>exercise</th><th>result</th><th class="points">points</th></tr>
{"".join(rows)}
</table>
</body></html>
"""


_FAMILY_TITLES = {"vae": "Variational autoencoders", "gan": "Generative adversarial networks",
                  "flows": "Normalizing flows"}  # fmt: skip
