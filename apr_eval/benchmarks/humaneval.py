"""HumanEval+ (evalplus): v0.1.10 by default; v0.1.9, Mini and NoExtreme selectable."""

from __future__ import annotations

from apr_eval.benchmarks.evalplus_benchmark import EvalplusBenchmark
from apr_eval.benchmarks.evalplus_common import DataFile


class HumanEvalPlus(EvalplusBenchmark):
    name = "humaneval"
    title = "HumanEval"
    averaged = True  # its strictest score joins the leaderboard's average
    dataset = "humaneval"
    score_names = ("humaneval", "humaneval+")
    default_version = "v0.1.10"
    files = {
        "v0.1.10": DataFile("HumanEvalPlus-v0.1.10.jsonl.gz",
                            "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101"),
        "v0.1.10-mini": DataFile(
            "HumanEvalPlus-Mini-v0.1.10.jsonl.gz",
            "91486741f1627101021fbe50523df08eebb5b0bf5e804b633dcd5ca3c14dbd2f"),
        "v0.1.10-noextreme": DataFile(
            "HumanEvalPlus-NoExtreme-v0.1.10.jsonl.gz",
            "298f79977b2663b8b8ab6b5fa50b17d6f23a92603d24f39e26203fe58c37eeda"),
        "v0.1.9": DataFile("HumanEvalPlus-v0.1.9.jsonl.gz",
                           "e62f4130146963d969da64553f407a66e52d095adbfed4ee6733b4d59e14a3ed"),
    }
