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


def task_of(info) -> Task:
    """The task a stored version (``VersionInfo``) solves; UnknownTask, saying why, for a version
    that names none (imported from scikit-learn: there is no data to train or judge it with)."""
    if info.task is None:
        raise UnknownTask(f"{info.name} version {info.version} has no task (it was imported), so there is no data "
                          "to train, evaluate or draw it with; import a new version instead")
    return get_task(info.task)


__all__ = ["TASKS", "Target", "Task", "UnknownTask", "get_task", "task_of"]
