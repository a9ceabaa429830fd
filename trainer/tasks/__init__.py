"""The seven tasks, by name."""

from trainer.tasks.base import Target, Task
from trainer.tasks.plane import Checkerboard, Quadrant, Sine, Xor
from trainer.tasks.red import Red
from trainer.tasks.tabular import HousePrices, Iris

TASKS: dict[str, Task] = {
    t.name: t for t in (Red(), Xor(), Sine(), Checkerboard(), Quadrant(), Iris(), HousePrices())
}


class UnknownTask(ValueError):
    pass


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(f"unknown task {name!r}; tasks are: {', '.join(TASKS)}") from None


__all__ = ["TASKS", "Target", "Task", "UnknownTask", "get_task"]
