"""The criterion interface and its registry.

A criterion turns samples into one float each, higher = more worth keeping. It is one class in one file
of `criteria/`, registered with `@register`; packages outside the suite register theirs through the
`infoprune.criteria` entry-point group. Discovery is lazy: nothing is imported until a name is looked up.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from .config import CriterionSpec
from .errors import CriterionError
from .registry import Registry
from .samples import Sample
from .select import MODES


@dataclass(frozen=True)
class Param:
    default: Any
    help: str = ""
    choices: tuple = ()

    def parse(self, criterion: str, name: str, text: str) -> Any:
        kind = type(self.default)
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(text)
                value: Any = text.lower() in ("true", "1")
            else:
                value = kind(text)
        except ValueError:
            raise CriterionError(f"{criterion}: parameter {name}={text!r} is not a {kind.__name__}") from None
        if self.choices and value not in self.choices:
            raise CriterionError(f"{criterion}: {name} must be one of {', '.join(map(str, self.choices))}, not {text!r}")
        return value


# What a criterion may ask its context for, and the class flag that declares each. A declared service is part
# of the key its scores are cached under, so an undeclared use would silently reuse stale scores: it is refused.
SERVICES = {"probe": "uses_probe", "embedder": "uses_embedder", "seed": "seeded", "target": "uses_target"}
ACCESSORS = {"probe": "token_nll", "embedder": "embeddings", "seed": "seed", "target": "target"}


class ScoringContext:
    """What the pipeline offers a criterion besides the samples themselves.

    - `seed`: the selection seed of the cell (declare `seeded = True`);
    - `token_nll(samples)`: the probe LM's per-token NLL in nats, one array per sample (`uses_probe = True`);
    - `embeddings(samples)`: L2-normalised sentence embeddings (MiniLM), one row per sample (`uses_embedder = True`);
    - `target`: the dev set, held-out samples that no model trains on and no metric reads, for criteria that
      select towards a target distribution (`uses_target = True`). The test set that evaluation reads is never
      offered.
    Results are memoised, so every criterion that needs the probe or the embedder shares one pass. Bound to a
    criterion (`bind`), the context refuses a service its class did not declare and records those it used.
    """

    def __init__(self, seed: int = 0, nll: Callable[[Sequence[Sample]], list[np.ndarray]] | None = None,
                 embed: Callable[[Sequence[Sample]], np.ndarray] | None = None, target: Sequence[Sample] = (),
                 memo: dict | None = None) -> None:
        self._seed, self.nll, self.embed, self._target = seed, nll, embed, target
        self.memo = {} if memo is None else memo
        self.criterion: Criterion | None = None  # None: unbound, every service offered (tests of a criterion's maths)
        self.used: set[str] = set()

    def bind(self, criterion: "Criterion", seed: int) -> "ScoringContext":
        """A context for one scoring call of `criterion`, sharing this one's memo."""
        bound = ScoringContext(seed, self.nll, self.embed, self._target, self.memo)
        bound.criterion = criterion
        return bound

    def with_seed(self, seed: int) -> "ScoringContext":
        return ScoringContext(seed, self.nll, self.embed, self._target, self.memo)

    def _use(self, service: str) -> None:
        crit = self.criterion
        if crit is not None and not getattr(crit, SERVICES[service]):
            raise CriterionError(f"{crit.name} uses the {service} (ctx.{ACCESSORS[service]}) but its class does not "
                                 f"declare {SERVICES[service]} = True; declare it, so that its cached scores are "
                                 f"keyed on the {service}")
        self.used.add(service)

    @property
    def seed(self) -> int:
        self._use("seed")
        return self._seed

    @property
    def target(self) -> Sequence[Sample]:
        self._use("target")
        return self._target

    @property
    def heldout(self):
        raise CriterionError("criteria never see the text they are evaluated on: ctx.heldout is not offered; read "
                             "ctx.target, the dev set held out for criteria (uses_target = True)")

    def token_nll(self, samples: Sequence[Sample]) -> list[np.ndarray]:
        self._use("probe")
        if self.nll is None:
            raise CriterionError("this run offers no probe LM")
        return self._memo("nll", samples, self.nll)

    def embeddings(self, samples: Sequence[Sample]) -> np.ndarray:
        self._use("embedder")
        if self.embed is None:
            raise CriterionError("this run offers no embedder")
        return self._memo("embed", samples, self.embed)

    def _memo(self, kind: str, samples: Sequence[Sample], fn):
        key = (kind, tuple(s.id for s in samples))
        if key not in self.memo:
            self.memo[key] = fn(samples)
        return self.memo[key]


class Criterion:
    """Subclass, set the class attributes, implement `score`, decorate with `@register`."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"  # bump when the scores change, so cached scores are recomputed
    keeps: ClassVar[str] = ""  # one line: what a high score means
    paper: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    variants: ClassVar[dict[str, dict[str, str]]] = {}  # extra configurations that `--criteria all` runs
    mode: ClassVar[str] = "top"  # how selection uses the scores, unless a `keep` parameter says otherwise
    seeded: ClassVar[bool] = False  # reads ctx.seed: its scores depend on the selection seed
    uses_probe: ClassVar[bool] = False  # reads ctx.token_nll
    uses_embedder: ClassVar[bool] = False  # reads ctx.embeddings
    uses_target: ClassVar[bool] = False  # reads ctx.target
    per_sample: ClassVar[bool] = False  # a score depends on its sample alone (and the probe): it can stream
    # A rule set's pass mark: a sample scoring below it fails the filter as its authors run it (None: a ranking).
    pass_mark: ClassVar[float | None] = None

    @classmethod
    def parameters(cls) -> dict[str, Param]:
        """The class's own parameters, after `keep`: the selection mode that every criterion takes."""
        keep = Param(cls.mode, "selection: a band of scores, or a draw ∝ score (sample) or ∝ exp(score) (gumbel)",
                     MODES)
        return {"keep": keep} | cls.params

    def __init__(self, **overrides: str) -> None:
        params = self.parameters()
        unknown = set(overrides) - set(params)
        if unknown:
            raise CriterionError(f"{self.name}: unknown parameter {sorted(unknown)[0]!r}; valid parameters: "
                                 f"{', '.join(sorted(params))}")
        self.values = {k: p.default for k, p in params.items()}
        for k, text in overrides.items():
            self.values[k] = params[k].parse(self.name, k, text)

    @property
    def keep(self) -> str:
        """Selection mode: `top`, `middle` or `bottom` band, or a draw (`sample`, `gumbel`): see select.py."""
        return self.values["keep"]

    def score(self, samples: Sequence[Sample], ctx: ScoringContext) -> np.ndarray:
        raise NotImplementedError

    def inputs(self) -> str | None:
        """A fingerprint of what the scores read besides their samples and services, e.g. a file a parameter
        names, so that its cached scores are recomputed when that changes. None (the default): nothing."""
        return None

    def terms(self, samples: Sequence[Sample], ctx: ScoringContext) -> dict[str, np.ndarray] | None:
        """For a score that is a sum: its terms by name, adding up to `score`, so that the report can show what
        each contributes. None (the default): the score is not a sum."""
        return None


def _discover() -> None:
    """Import every module of the `criteria` package, then every `infoprune.criteria` plugin."""
    import criteria

    for info in pkgutil.iter_modules(criteria.__path__):
        importlib.import_module(f"criteria.{info.name}")
    for ep in entry_points(group="infoprune.criteria"):
        loaded = ep.load()  # a plugin module that registers its class on import is fine: see `register`
        if isinstance(loaded, type) and issubclass(loaded, Criterion):
            register(loaded)


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


REGISTRY: Registry[type[Criterion]] = Registry("criterion", "criteria", _discover, _origin, CriterionError)

SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


def register(cls: type[Criterion]) -> type[Criterion]:
    # Names become parts of cache file names, so they are checked before they can become paths.
    if not SAFE_NAME.fullmatch(cls.name or ""):
        raise CriterionError(f"criterion {_origin(cls)} has the name {cls.name!r}; "
                             "a name is lowercase letters, digits, '.', '_' or '-'")
    return REGISTRY.add(cls.name, cls)


def names() -> list[str]:
    return REGISTRY.names()


def get(name: str) -> type[Criterion]:
    return REGISTRY.get(name)


def build(spec: CriterionSpec) -> Criterion:
    return get(spec.name)(**dict(spec.params))


def score(crit: Criterion, samples: Sequence[Sample], ctx: ScoringContext, seed: int) -> tuple[np.ndarray, set[str]]:
    """`crit`'s raw scores of `samples` under the selection seed `seed`, and the services it used.

    The context is bound to the criterion, so a service its class did not declare is refused (see SERVICES).
    """
    bound = ctx.bind(crit, seed)
    return crit.score(samples, bound), bound.used


def terms(crit: Criterion, samples: Sequence[Sample], ctx: ScoringContext, seed: int) -> dict[str, np.ndarray] | None:
    """`crit`'s score terms (see `Criterion.terms`), under the same bound context as `score`."""
    return crit.terms(samples, ctx.bind(crit, seed))


def parse_specs(text: str) -> tuple[CriterionSpec, ...]:
    """`all`, or `name[:k=v[,k=v]][,name...]`: a piece with `=` and no `:` is one more parameter."""
    if text.strip() == "all":
        specs = []
        for n in names():
            specs.append(CriterionSpec(n))
            specs += [CriterionSpec(n, tuple(sorted(p.items()))) for p in get(n).variants.values()]
        return tuple(specs)
    items: list[tuple[str, list[tuple[str, str]]]] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        if "=" in piece and ":" not in piece:
            if not items:
                raise CriterionError(f"parameter {piece!r} comes before any criterion name")
            key, _, value = piece.partition("=")
            items[-1][1].append((key.strip(), value.strip()))
            continue
        name, _, rest = piece.partition(":")
        params = []
        if rest:
            key, eq, value = rest.partition("=")
            if not eq or not key.strip():
                raise CriterionError(f"bad criterion parameter {rest!r} in {piece!r}; write name:key=value")
            params.append((key.strip(), value.strip()))
        items.append((name.strip(), params))
    if not items:
        raise CriterionError("no criteria given; use --criteria all or a list such as random,length")
    specs = tuple(CriterionSpec(n, tuple(sorted(p))) for n, p in items)
    for spec in specs:
        build(spec)  # validates names and parameters now, before any work starts
    if len({s.label for s in specs}) != len(specs):
        raise CriterionError("a criterion is listed twice in --criteria")
    return specs
