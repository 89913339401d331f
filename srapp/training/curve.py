"""The scored curve of a training run: ``experiments/NAME/curve.json``, rewritten at every validation.

Each point is one validation of the weights BasicSR validates (the EMA copy when ``ema_decay`` is
set): the iteration, the training seconds (the time budget's clock when the run has one), the
learning rate and every metric of every validation set. With them the file states how many
iterations and seconds the run trained and on which machine, so a run stopped at any point, or
brought back from another machine, says what it did; :func:`srapp.training.promote.promote_experiment`
records it with the stage. A resumed run drops the points of iterations it trains again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._atomic import atomic_write

CURVE_FILE = "curve.json"


@dataclass
class CurvePoint:
    iteration: int
    seconds: float
    lr: float
    dataset: str
    metrics: dict[str, float]


@dataclass
class Curve:
    name: str
    machine: str
    iterations: int = 0
    seconds: float = 0.0
    points: list[CurvePoint] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Curve:
        values = json.loads(Path(path).read_text())
        points = [CurvePoint(**point) for point in values.pop("points")]
        return cls(**values, points=points)

    def add(self, point: CurvePoint) -> None:
        """Append ``point``, replacing one of the same iteration and set (BasicSR validates the last
        iteration of a run that ends on its iteration count twice)."""
        self.points = [p for p in self.points if (p.iteration, p.dataset) != (point.iteration, point.dataset)]
        self.points.append(point)

    def until(self, iteration: int) -> None:
        """Forget the points after ``iteration`` (a resumed run trains them again)."""
        self.points = [point for point in self.points if point.iteration <= iteration]

    def write(self, path: Path) -> None:
        with atomic_write(path) as handle:
            handle.write((json.dumps(asdict(self), indent=2) + "\n").encode())


def open_curve(folder: Path, name: str, machine: str) -> Curve:
    """The curve of the experiment in ``folder``: the one written there before (a resumed run), else a new one."""
    path = Path(folder) / CURVE_FILE
    if path.is_file():
        curve = Curve.read(path)
        curve.machine = machine
        return curve
    return Curve(name=name, machine=machine)


def rounded_metrics(results: dict[str, Any]) -> dict[str, float]:
    return {name: round(float(value), 6) for name, value in results.items()}
