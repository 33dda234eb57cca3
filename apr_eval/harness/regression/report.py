"""Text renderings of a :class:`~apr_eval.harness.regression.compare.Comparison` (Markdown, labels).

The rich table lives in the CLI; the Markdown here is shared by ``compare --format md`` and
the nightly report, so both say the same thing in the same words.
"""

from __future__ import annotations

from collections.abc import Sequence

from apr_eval.harness.regression.compare import Comparison, Flip, ScoreComparison


def pp(value: float) -> str:
    """A fraction as percentage points with an explicit sign: -0.0061 -> '-0.61'."""
    return f"{value * 100:+.2f}"


def pct(value: float) -> str:
    return f"{value * 100:.2f}"


def p_text(p: float) -> str:
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def verdict_label(s: ScoreComparison, c: Comparison | None = None) -> str:
    if c is not None and c.inconclusive:
        return "INCONCLUSIVE"
    if s.regressed:
        return "REGRESSED"
    if s.significant and s.delta.estimate < 0:
        return "drop within max-drop"
    if s.significant and s.delta.estimate > 0:
        return "improved"
    return f"no significant change (could detect ≥ {s.mde_pp:.1f} pp)"


def samples_text(s: ScoreComparison) -> str:
    return f"{s.samples:.3g}"


def score_row(s: ScoreComparison, c: Comparison | None = None) -> list[str]:
    d = s.delta
    return [s.score, str(s.problems), samples_text(s), pct(s.pass_a), pct(s.pass_b),
            pp(d.estimate), f"[{pp(d.low)}, {pp(d.high)}]", s.test.name, p_text(s.test.p_value),
            p_text(s.p_adjusted), f"{s.mde_pp:.2f}", f"-{len(s.lost)}/+{len(s.gained)}",
            str(len(s.changed)), verdict_label(s, c)]


SCORE_HEADER = ["score", "problems", "samples/problem", "A pass@1", "B pass@1", "Δ pp",
                "CI (pp)", "test", "p", "p adj.", "MDE pp", "real flips -/+", "changed",
                "verdict"]
FLIP_HEADER = ["problem", "A passed", "B passed", "failed as", "p (corrected)"]
TOP_CHANGED = 10


def rule_text(c: Comparison) -> str:
    """The decision rule and what the intervals mean, in words."""
    level = f"{1 - c.alpha:.0%}"
    questions = "; ".join(dict.fromkeys(f"{s.test.name}: {s.interval_question}"
                                        for s in c.scores))
    across = ("this comparison's scores" if c.corrected_across <= 1 else
              f"the night's {c.corrected_across} comparisons (a run's scores as one family)")
    return (f"A regression is a drop larger than {c.max_drop_pp:g} pp whose p-value, Holm-"
            f"corrected across {across}, is below {c.alpha:g}. Intervals are "
            f"{level} and agree with their test; they answer: {questions}. MDE: the smallest "
            "drop this comparison detects with 80% power (from its problems, samples and "
            "observed variance); a smaller real drop can pass as \"no significant change\". "
            f"Infra errors are left out of both runs; more than {c.max_infra_share:.0%} of "
            "samples makes the comparison inconclusive (exit 3).")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), line(["---"] * len(header)), *(line(r) for r in rows)]


def flip_rows(flips: Sequence[Flip]) -> list[list[str]]:
    return [[f.problem_id, f"{f.a_passed}/{f.a_samples}", f"{f.b_passed}/{f.b_samples}",
             f.kind_text, p_text(f.p_value)] for f in flips]


def flip_sections(s: ScoreComparison) -> list[tuple[str, Sequence[Flip]]]:
    """(title, flips) to show for one score: the real flips, then (n > 1) the most
    significant of the other problems that moved."""
    out: list[tuple[str, Sequence[Flip]]] = [
        (f"{s.score}: {len(s.lost)} passed by A, failed by B", s.lost),
        (f"{s.score}: {len(s.gained)} failed by A, passed by B", s.gained)]
    real = {f.problem_id for f in (*s.lost, *s.gained)}
    rest = [f for f in s.changed if f.problem_id not in real]
    if rest:
        out.append((f"{s.score}: {len(rest)} more problems moved without a significant change "
                    f"of their own (Fisher, corrected); top {min(TOP_CHANGED, len(rest))}",
                    rest[:TOP_CHANGED]))
    return [(t, f) for t, f in out if f]


def comparison_markdown(c: Comparison, *, level: int = 2) -> str:
    h = "#" * level
    lines = [f"{h} {c.benchmark}: {c.model_b} (`{c.run_b}`) vs {c.model_a} (`{c.run_a}`)", ""]
    lines.append(f"A = `{c.run_a}` (reference), B = `{c.run_b}`. {rule_text(c)}")
    lines.append("")
    lines += [f"**{w}**" for w in c.warnings]
    if c.warnings:
        lines.append("")
    if c.diffs:
        lines.append("**WARNING: compared with --force although the runs differ:** "
                     + "; ".join(str(d) for d in c.diffs))
        lines.append("")
    lines += [f"- note: {n}" for n in c.notes]
    if c.notes:
        lines.append("")
    lines += _table(SCORE_HEADER, [score_row(s, c) for s in c.scores])
    for s in c.scores:
        for title, flips in flip_sections(s):
            lines += ["", f"{h}# {title}", ""]
            lines += _table(FLIP_HEADER, flip_rows(flips))
    return "\n".join(lines) + "\n"
