"""Text renderings of a :class:`~apr_eval.harness.compare.Comparison` (Markdown, labels).

The rich table lives in the CLI; the Markdown here is shared by ``compare --format md`` and
the nightly report, so both say the same thing in the same words.
"""

from __future__ import annotations

from collections.abc import Sequence

from apr_eval.harness.compare import Comparison, Flip, ScoreComparison


def pp(value: float) -> str:
    """A fraction as percentage points with an explicit sign: -0.0061 -> '-0.61'."""
    return f"{value * 100:+.2f}"


def pct(value: float) -> str:
    return f"{value * 100:.2f}"


def p_text(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def verdict_label(s: ScoreComparison) -> str:
    if s.regressed:
        return "REGRESSED"
    if s.significant and s.delta.estimate < 0:
        return "drop within max-drop"
    if s.significant and s.delta.estimate > 0:
        return "improved"
    return "no significant change"


def score_row(s: ScoreComparison) -> list[str]:
    d = s.delta
    return [s.score, str(s.problems), pct(s.pass_a), pct(s.pass_b), pp(d.estimate),
            f"[{pp(d.low)}, {pp(d.high)}]", s.test.name, p_text(s.test.p_value),
            str(len(s.lost)), str(len(s.gained)), verdict_label(s)]


SCORE_HEADER = ["score", "problems", "A pass@1", "B pass@1", "Δ pp", "95% CI (pp)", "test",
                "p", "lost", "gained", "verdict"]
FLIP_HEADER = ["problem", "A passed", "B passed", "failed as"]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), line(["---"] * len(header)), *(line(r) for r in rows)]


def flip_rows(flips: Sequence[Flip]) -> list[list[str]]:
    return [[f.problem_id, f"{f.a_passed}/{f.a_samples}", f"{f.b_passed}/{f.b_samples}",
             f.kind_text] for f in flips]


def comparison_markdown(c: Comparison, *, level: int = 2) -> str:
    h = "#" * level
    lines = [f"{h} {c.benchmark}: {c.model_b} (`{c.run_b}`) vs {c.model_a} (`{c.run_a}`)", ""]
    lines.append(f"A = `{c.run_a}` (reference), B = `{c.run_b}`. A regression is a drop "
                 f"larger than {c.max_drop_pp:g} pp with p < {c.alpha:g}.")
    lines.append("")
    if c.diffs:
        lines.append("**WARNING: compared with --force although the runs differ:** "
                     + "; ".join(str(d) for d in c.diffs))
        lines.append("")
    lines += [f"- note: {n}" for n in c.notes]
    if c.notes:
        lines.append("")
    lines += _table(SCORE_HEADER, [score_row(s) for s in c.scores])
    for s in c.scores:
        for title, flips in (("passed by A, failed by B", s.lost),
                             ("failed by A, passed by B", s.gained)):
            if flips:
                lines += ["", f"{h}# {s.score}: {len(flips)} {title}", ""]
                lines += _table(FLIP_HEADER, flip_rows(flips))
    return "\n".join(lines) + "\n"
