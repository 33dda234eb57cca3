"""The power planner behind ``apr-eval plan``: how many samples per problem (or problems) a
paired comparison needs to detect a given gap with 80% power.

Model: the comparison is a paired test over problems (``harness.stats``). With ``n`` samples
per problem in each run, a problem's difference of pass fractions has variance
``2 * w / n + tau**2``: ``w`` is the mean within-problem variance of one sample's outcome
(p(1 - p), from an earlier run's per-problem pass rates or a stated prior) and ``tau`` the
spread of the true per-problem effect (0: the models differ by the same amount everywhere).
A gap ``delta`` is detected with the wanted power when ``delta >= e * sd`` where ``e`` is the
standardized effect a paired t-test over the benchmark's problems detects
(statsmodels' ``TTestPower``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from apr_eval.harness.scoring import stats

PRIOR_DISCORDANCE = 0.08  # share of problems that flip between two one-sample runs
MAX_SAMPLES = 10_000


@dataclass(frozen=True)
class Plan:
    problems: int
    delta_pp: float
    alpha: float
    power: float
    within: float  # mean per-sample variance p(1 - p) over problems
    tau_pp: float  # spread of the true per-problem effect
    source: str  # where ``within`` came from, in words
    samples_now: int
    mde_now_pp: float  # what the current design (samples_now) detects
    samples_needed: int | None  # per problem and run; None: unreachable on these problems
    problems_needed: int | None  # at samples_now per problem, problems of this kind needed

    @property
    def reachable(self) -> bool:
        return self.samples_needed is not None and self.samples_needed <= MAX_SAMPLES


def within_from_counts(n: Sequence[int], c: Sequence[int]) -> float | None:
    """Mean unbiased per-sample variance c(n - c) / (n(n - 1)) over problems with n >= 2."""
    pairs = [(ni, ci) for ni, ci in zip(n, c, strict=True) if ni >= 2]
    if not pairs:
        return None
    return float(np.mean([ci * (ni - ci) / (ni * (ni - 1)) for ni, ci in pairs]))


def within_from_prior(discordance: float = PRIOR_DISCORDANCE) -> float:
    """Two one-sample runs of the same model disagree on a problem with probability
    2p(1 - p): a discordance share d means a mean p(1 - p) of d / 2."""
    return discordance / 2


def _problems_needed(delta: float, sd: float, alpha: float, power: float) -> int | None:
    if sd == 0:
        return 2
    from statsmodels.stats.power import TTestPower

    nobs = TTestPower().solve_power(effect_size=delta / sd, nobs=None, alpha=alpha,
                                    power=power, alternative="two-sided")
    value = float(np.asarray(nobs).item())
    return math.ceil(value) if math.isfinite(value) else None


def plan(problems: int, delta_pp: float, *, within: float, source: str, alpha: float = 0.05,
         power: float = stats.POWER, tau_pp: float = 0.0, samples_now: int = 1) -> Plan:
    """Samples per problem needed to detect ``delta_pp`` on ``problems`` problems."""
    delta, tau = delta_pp / 100, tau_pp / 100
    e = stats.standardized_effect(problems, alpha, power)
    room = (delta / e) ** 2 - tau * tau  # variance left for sampling noise
    needed: int | None = None
    if room > 0:
        needed = max(1, math.ceil(2 * within / room)) if within > 0 else 1
    var_now = 2 * within / samples_now + tau * tau
    return Plan(
        problems=problems, delta_pp=delta_pp, alpha=alpha, power=power, within=within,
        tau_pp=tau_pp, source=source, samples_now=samples_now,
        mde_now_pp=100 * stats.mde(problems, var_now, samples_now, alpha, power),
        samples_needed=needed,
        problems_needed=_problems_needed(delta, math.sqrt(var_now), alpha, power))


def explain(p: Plan, bench: str) -> list[str]:
    """The plan in plain words (what ``apr-eval plan`` prints)."""
    lines = [
        f"{bench}: {p.problems} problems; per-sample variance p(1-p) = {p.within:.4f} "
        f"({p.source}); true per-problem effect spread {p.tau_pp:g} pp.",
        f"Goal: detect a {p.delta_pp:g} pp gap with {p.power:.0%} power at alpha {p.alpha:g} "
        "(paired test over problems, both runs sampled equally).",
        f"Now ({p.samples_now} sample(s) per problem): the smallest detectable gap is "
        f"{p.mde_now_pp:.2f} pp.",
    ]
    if p.samples_needed is None:
        lines.append(f"UNREACHABLE on {bench}: with a {p.tau_pp:g} pp spread of the true "
                     f"effect, no number of samples detects {p.delta_pp:g} pp on "
                     f"{p.problems} problems.")
    elif not p.reachable:
        lines.append(f"UNREACHABLE in practice: it needs {p.samples_needed:,} samples per "
                     f"problem and run (more than {MAX_SAMPLES:,}).")
    elif p.samples_needed <= p.samples_now:
        lines.append(f"Reachable now: {p.samples_now} sample(s) per problem suffice.")
    else:
        total = p.samples_needed * p.problems
        lines.append(f"Needs {p.samples_needed:,} samples per problem in each run "
                     f"({total:,} samples per run), at temperature > 0: a greedy run "
                     "repeats the same sample.")
    if p.problems_needed is not None and p.problems_needed > p.problems:
        lines.append(f"At {p.samples_now} sample(s) per problem it would take "
                     f"{p.problems_needed:,} problems like these; {bench} has {p.problems}, "
                     "so that is not reachable on this benchmark.")
    return lines
