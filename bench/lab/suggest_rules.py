"""Suggestion rules judged on held-out training videos (the command: ``python -m
bench.suggest_rules``): which rule's clicks train the best localizer? One guided round of
755 clicks (a third of A1's) per candidate rule, chosen on held-out videos, then reported on
the test split.

Per seed s (sim seed s = training seed s):

1. ``weak`` is trained once (video labels only);
2. each candidate rule (``RULES``: signal weights and a score floor of
   ``model.suggest.rank_suggestions``) ranks up to ``k`` moments per training video from
   that weak model; the simulated annotator (``bench.lab.annotator``, A1's error rate)
   answers them until the click target (755 on the full split, scaled with ``--limit``);
   ``bg-click`` is trained on those clicks;
3. references: ``a1-all`` (every A1 click) and ``random-bg`` (uniform background snippets,
   as many per video as the ``default`` rule's clicks).

The rule is chosen by :func:`choose_rule`: the highest held-out avg mAP 0.1:0.7 averaged over
the last ``TAIL`` epochs and over the seeds, among the rules whose clicks reach ``MIN_FILL``
of the target on every seed (held-out = the training videos ``model.train.fit`` holds out;
their clicks do not train). The choice is stored before the test numbers are rendered.
Plan and results: docs/research/guided.md, "Suggestion rules judged on held-out videos".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.lab.annotator import (
    RoundState,
    a1_error_rate,
    a1_rows,
    centre,
    inside_gt,
    random_background,
    simulate_round,
)
from bench.lab.guided import suggest
from bench.lab.reports import mean_std
from bench.lab.resume import run_pending, stored_payload, write_json
from bench.lab.settings import Settings
from bench.lab.sims import ensure_sim, load_sim_items, metadata_items
from bench.lab.training import (
    configs,
    evaluate_test,
    localize_all,
    outputs_backtal,
    with_clicks,
)
from model.suggest import MODEL_SIGNALS, RULES, SuggestConfig
from model.train import fit

WEAK, A1_ALL, RANDOM_BG = "weak", "a1-all", "random-bg"
# the rules (weights, floor) live in model.suggest.RULES: the product's default is one of them
# the candidates of the run in docs/research/guided.md (before the coverage rule existed):
# --legacy-recipe runs exactly these, so that its results key and choice are reproduced
LEGACY_RULES = ("default", *(f"only-{r}" for r in MODEL_SIGNALS))
MIN_FILL = 0.9  # a rule qualifies when its clicks reach this share of the target on every seed
TAIL = 10  # epochs averaged for the held-out choice (31-40 of 40)
TARGET_SHARE = 1 / 3  # of A1's clicks: 755 of 2264


def results_key(
    settings: Settings, k: int, error_rate: float, rules: Sequence[str]
) -> dict[str, Any]:
    """What identifies the results (a resume must match), as it reads back from JSON: the
    settings, the candidates' weights and floors, and the choice's constants."""
    key = {
        "base": settings.key(),
        "k": k,
        "error_rate": error_rate,
        "rules": {r: {"weights": RULES[r][0], "min_score": RULES[r][1]} for r in rules},
        "min_fill": MIN_FILL,
        "tail": TAIL,
        "target_share": TARGET_SHARE,
    }
    plain: dict[str, Any] = json.loads(json.dumps(key))
    return plain


def default_rules(settings: Settings) -> list[str]:
    """Every rule under a named recipe; the documented candidates under the legacy one."""
    return list(RULES) if settings.recipe else list(LEGACY_RULES)


# ----------------------------------------------------------------------------- pure parts
def tail_mean(curve: Sequence[float | None], tail: int = TAIL) -> float | None:
    """Mean of the last ``tail`` held-out values (None where an epoch has none)."""
    values: list[float] = [v for v in list(curve)[-tail:] if v is not None]
    return float(np.mean(values)) if values else None


def choose_rule(
    heldout: dict[str, list[float | None]], filled: dict[str, bool] | None = None
) -> str | None:
    """The rule with the highest mean held-out score over seeds, among those that ``filled``
    their click target (all when None); a seed without a score disqualifies the rule; ties
    to the earlier rule in ``heldout``'s order."""
    best, best_score = None, -np.inf
    for rule, values in heldout.items():
        scored = [v for v in values if v is not None]
        if not values or len(scored) < len(values):
            continue
        if filled is not None and not filled.get(rule, False):
            continue
        score = float(np.mean(scored))
        if score > best_score:
            best, best_score = rule, score
    return best


# ----------------------------------------------------------------------------- trainings
def _heldout_curve(history: Sequence[dict[str, Any]]) -> list[float | None]:
    return [h["val"].get("mAP_0.1_0.7") for h in history]


def train_task(
    spec: dict[str, Any],
    settings: Settings,
    device: str,
    threads: int,
    candidates: dict[str, tuple[dict[str, float], float]],
) -> dict:
    """One training of ``spec`` and its held-out curve and test scores; ``weak`` also ranks
    the training videos' moments by every candidate rule (``candidates``)."""
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    train_items, test_items, names = load_sim_items(Path(spec["sim_dir"]), settings.standardize)
    if spec["clicks"] is not None:
        train_items = with_clicks(train_items, spec["clicks"])
    mode = "weak" if spec["arm"] == WEAK else "bg-click"
    model_config, config = configs(mode, spec["seed"], settings, train_items, len(names), device)
    result = fit(config, model_config, train_items)
    preds = localize_all(outputs_backtal(result.model, test_items), test_items, config.post)
    held = set(result.holdout)
    clicked = [(it, k) for it in train_items for k in it.bg_clicks.tolist()]
    run: dict[str, Any] = {
        "arm": spec["arm"],
        "seed": spec["seed"],
        "clicks": 0 if mode == "weak" else len(clicked),
        "clicks_trained": 0 if mode == "weak" else sum(it.name not in held for it, _ in clicked),
        "clicks_inside_gt": 0
        if mode == "weak"
        else sum(inside_gt(centre(it, k), it.gt_segments) for it, k in clicked),
        "best_epoch": result.best_epoch,
        "heldout_curve": _heldout_curve(result.history),
        "test": evaluate_test(preds, test_items),
    }
    run["heldout_tail"] = tail_mean(run["heldout_curve"])
    if mode == "weak":
        run["suggestions"] = {
            rule: suggest(
                result.model,
                train_items,
                config.post,
                {},
                SuggestConfig(max_suggestions=spec["k"], weights=weights, min_score=floor),
            )
            for rule, (weights, floor) in candidates.items()
        }
    run["total_s"] = round(time.perf_counter() - wall, 1)
    run["cpu_s"] = round(time.process_time() - cpu, 1)
    return run


class SeedPlan:
    """What a seed still needs, given the finished runs (the rules' clicks come from the
    weak model's suggestions)."""

    def __init__(self, seed: int, sim_dir: Path, items: list, runs: list, target: int, k: int,
                 error_rate: float, rules: Sequence[str]) -> None:  # fmt: skip
        self.seed, self.sim_dir, self.items, self.runs = seed, sim_dir, items, runs
        self.target, self.k, self.error_rate = target, k, error_rate
        self.rules = list(rules)
        self.states: dict[str, RoundState] = {}

    def run_of(self, arm: str) -> dict[str, Any] | None:
        return next((r for r in self.runs if r["seed"] == self.seed and r["arm"] == arm), None)

    def clicks_of(self, rule: str) -> RoundState:
        """The simulated annotator's clicks on ``rule``'s suggestions (the weak model's)."""
        weak = self.run_of(WEAK)
        if weak is None:
            raise RuntimeError(f"seed {self.seed}: the weak model has not run yet")
        if rule not in self.states:
            self.states[rule] = simulate_round(
                self.items,
                weak["suggestions"][rule],
                RoundState({}, {}, {}),
                self.target,
                self.error_rate,
                self.seed,
                1,
            )
        return self.states[rule]

    def _spec(self, arm: str, clicks: Any) -> dict[str, Any]:
        return {
            "arm": arm,
            "seed": self.seed,
            "clicks": clicks,
            "sim_dir": str(self.sim_dir),
            "k": self.k,
        }

    def ready(self) -> list[dict[str, Any]]:
        out = []
        if self.run_of(WEAK) is None:
            out.append(self._spec(WEAK, None))
        if self.run_of(A1_ALL) is None:
            out.append(self._spec(A1_ALL, None))
        if self.run_of(WEAK) is None:
            return out
        for rule in self.rules:
            if self.run_of(rule) is None:
                out.append(self._spec(rule, self.clicks_of(rule).clicks))
        if self.run_of(RANDOM_BG) is None:
            counts = {n: len(v) for n, v in self.clicks_of("default").clicks.items()}
            out.append(self._spec(RANDOM_BG, random_background(self.items, counts, self.seed)))
        return out

    def annotation(self) -> dict[str, Any]:
        return {rule: self.clicks_of(rule).stats for rule in self.rules if self.run_of(WEAK)}


# ----------------------------------------------------------------------------- report
def _pct(values: Sequence[float]) -> str:
    return mean_std(values)


def rules_of(payload: dict[str, Any]) -> list[str]:
    """The candidate rules of a run, in their order (stored with its settings)."""
    return list(payload["settings"]["rules"])


def heldout_by_rule(payload: dict[str, Any]) -> dict[str, list[float | None]]:
    """Per arm, each seed's held-out tail mean (None where the seed has not run)."""
    out: dict[str, list[float | None]] = {}
    for arm in (WEAK, *rules_of(payload), RANDOM_BG, A1_ALL):
        runs = {r["seed"]: r for r in payload["runs"] if r["arm"] == arm}
        out[arm] = [runs[s]["heldout_tail"] if s in runs else None for s in payload["seeds"]]
    return out


def render(payload: dict[str, Any]) -> str:
    lines = [
        "# Suggestion rules on THUMOS14-sim, judged on held-out training videos",
        "",
        f"`{payload.get('command', '')}` — seeds {payload['seeds']}, target "
        f"{payload.get('targets')} clicks per seed (one round from the weak model).",
        "",
        f"Held-out avg mAP 0.1:0.7 (%), mean of the last {TAIL} epochs, per seed:",
        "",
        "| arm | held-out (mean ± std) | per seed |",
        "| --- | ---: | --- |",
    ]
    held = heldout_by_rule(payload)
    for arm, values in held.items():
        vals = [v for v in values if v is not None]
        if not vals:
            continue
        lines.append(
            f"| {arm} | {_pct(vals)} | " + ", ".join(f"{100 * v:.1f}" for v in vals) + " |"
        )
    choice = payload.get("choice")
    if choice is None:
        lines.append("\n(no choice yet: the candidates have not all run)\n")
        return "\n".join(lines) + "\n"
    lines += [
        "",
        f"**Chosen on held-out videos** (at {choice['chosen_at']}): `{choice['rule']}` "
        f"(qualified: {', '.join(r for r, ok in choice.get('filled', {}).items() if ok)}; a rule "
        f"qualifies when its clicks reach {MIN_FILL:.0%} of the target on every seed).",
        "",
        "Test mAP (%), mean ± std over seeds; clicks = background-click snippets; inside GT = "
        "the annotator's errors:",
        "",
        "| arm | clicks | inside GT | answers | mAP@0.5 | avg 0.1:0.7 | per seed @0.5 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    ann = payload.get("annotation", {})
    for arm in (WEAK, *rules_of(payload), RANDOM_BG, A1_ALL):
        runs = [r for r in payload["runs"] if r["arm"] == arm]
        if not runs:
            continue
        runs.sort(key=lambda r: r["seed"])
        m05 = [r["test"]["mAP"]["0.5"] for r in runs]
        avg = [r["test"]["avg_0.1_0.7"] for r in runs]
        clicks = int(np.mean([r["clicks"] for r in runs]))
        inside = sum(r["clicks_inside_gt"] for r in runs) / max(1, sum(r["clicks"] for r in runs))
        answers = [ann.get(str(r["seed"]), {}).get(arm, {}).get("answered") for r in runs]
        answers_text = str(int(np.mean(answers))) if all(a is not None for a in answers) else ""
        lines.append(
            f"| {arm} | {clicks} | {100 * inside:.1f} % | {answers_text} | {_pct(m05)} | "
            f"{_pct(avg)} | " + ", ".join(f"{100 * v:.1f}" for v in m05) + " |"
        )
    lines += ["", "Paired per-seed margins, mAP@0.5 points:", ""]
    lines += ["| comparison | mean ± std | per seed |", "| --- | ---: | --- |"]

    def by_seed(arm: str) -> dict[int, float]:
        return {r["seed"]: r["test"]["mAP"]["0.5"] for r in payload["runs"] if r["arm"] == arm}

    pairs = [(choice["rule"], WEAK), (choice["rule"], A1_ALL), (choice["rule"], "default")]
    pairs += [("default", WEAK), (RANDOM_BG, WEAK), (A1_ALL, WEAK)]
    for a, b in pairs:
        if a == b:
            continue
        x, y = by_seed(a), by_seed(b)
        seeds = sorted(set(x) & set(y))
        if not seeds:
            continue
        d = [100 * (x[s] - y[s]) for s in seeds]
        sd = float(np.std(d, ddof=1)) if len(d) > 1 else 0.0
        lines.append(
            f"| {a} − {b} | {np.mean(d):+.1f} ± {sd:.1f} | "
            + ", ".join(f"{v:+.1f}" for v in d)
            + " |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the loop
def run_benchmark(
    settings: Settings,
    gt: Path,
    clicks: Path,
    out_dir: Path,
    *,
    k: int = 16,
    error_rate: float | None = None,
    device: str = "cpu",
    command: str = "",
    log: Callable[[str], None] = print,
    jobs: int = 1,
    threads: int = 1,
    rules: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every training not yet in ``out_dir/suggest_rules.json``; the rule is chosen on
    held-out videos (once, stored) as soon as every candidate has run on every seed.

    ``rules``: the candidates (names of ``RULES``, ``default`` among them: ``random-bg`` takes
    its clicks per video); None: :func:`default_rules` of the settings' recipe."""
    rule_names = list(rules) if rules is not None else default_rules(settings)
    if "default" not in rule_names or any(r not in RULES for r in rule_names):
        raise SystemExit(
            f"rules must be names of {', '.join(RULES)} and include 'default' (random-bg "
            "takes the default rule's clicks per video)"
        )
    candidates = {r: RULES[r] for r in rule_names}
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "suggest_rules.json", out_dir / "suggest_rules.md"
    if error_rate is None:
        error_rate, _, _ = a1_error_rate(gt, clicks)
    key = results_key(settings, k, error_rate, rule_names)
    payload: dict[str, Any] = {"settings": key, "runs": []}
    payload = stored_payload(json_path, key, log) or payload
    payload.update(seeds=list(settings.seeds), command=command, device=device)
    rows = a1_rows(gt, clicks)
    plans = []
    for seed in settings.seeds:
        sim_dir = ensure_sim(settings, gt, clicks, seed, out_dir, log)
        items = metadata_items(sim_dir)
        names = {it.name for it in items}
        target = round(TARGET_SHARE * sum(name in names for name, _, _ in rows))
        plans.append(
            SeedPlan(seed, sim_dir, items, payload["runs"], target, k, error_rate, rule_names)
        )
    payload["targets"] = {str(p.seed): p.target for p in plans}
    started = time.perf_counter()

    def save() -> None:
        payload["annotation"] = {str(p.seed): p.annotation() for p in plans}
        write_json(json_path, payload)
        md_path.write_text(render(payload))

    def maybe_choose() -> None:
        if payload.get("choice") is not None:
            return
        held = heldout_by_rule(payload)
        scores = {rule: held[rule] for rule in rule_names}
        if any(v is None for values in scores.values() for v in values):
            return
        filled = {
            rule: all(p.clicks_of(rule).total >= MIN_FILL * p.target for p in plans)
            for rule in rule_names
        }
        rule = choose_rule(scores, filled)
        payload["choice"] = {
            "rule": rule,
            "heldout": scores,
            "filled": filled,
            "chosen_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        log(f"rule chosen on held-out videos: {rule}")

    def finished(run: dict[str, Any]) -> None:
        payload["runs"].append(run)
        tail = run["heldout_tail"]
        log(
            f"[{len(payload['runs'])}] seed {run['seed']} {run['arm']}: {run['clicks']} clicks, "
            f"held-out {'–' if tail is None else f'{100 * tail:.1f}'} "
            f"({run['total_s']:.0f} s; elapsed {(time.perf_counter() - started) / 60:.1f} min)"
        )  # test numbers are not logged: they are read after the choice, in the report
        maybe_choose()
        save()

    def pending(busy: set[Any]) -> list[dict[str, Any]]:
        specs = [s for p in plans for s in p.ready() if (s["arm"], s["seed"]) not in busy]
        order = {WEAK: 0, A1_ALL: 2, RANDOM_BG: 3}
        return sorted(specs, key=lambda s: (order.get(s["arm"], 1), s["seed"]))

    run_pending(
        pending,
        lambda s: (s["arm"], s["seed"]),
        train_task,
        (settings, device, threads, candidates),
        finished,
        jobs,
        log,
        lambda s: f"seed {s['seed']} {s['arm']}",
    )
    maybe_choose()
    save()
    return payload
