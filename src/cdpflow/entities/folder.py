"""A folder of entity files loaded as a whole: each file parsed on its own, then the in_segment
references between segments checked across the folder, so one broken file stops only the
segments that need it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cdpflow.entities.parse import parse_entity
from cdpflow.entities.spec import (
    ENTITY_SUFFIXES,
    Condition,
    Entity,
    EntityError,
    Funnel,
    Group,
    InSegment,
    Not,
    Segment,
)


@dataclass
class Loaded:
    """The entities of a folder that parsed, and the error of each file that did not, by name."""

    entities: dict[str, Entity]
    errors: dict[str, EntityError]

    @property
    def segments(self) -> dict[str, Segment]:
        return {n: e for n, e in self.entities.items() if isinstance(e, Segment)}

    @property
    def funnels(self) -> dict[str, Funnel]:
        return {n: e for n, e in self.entities.items() if isinstance(e, Funnel)}


def entity_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in ENTITY_SUFFIXES and p.is_file())


def load_folder(folder: Path) -> Loaded:
    """Every entity file of `folder`; a broken file is reported and does not stop the others.
    References between segments (in_segment) are checked across the folder."""
    loaded = Loaded({}, {})
    for path in entity_files(folder):
        label = f"{folder.name}/{path.name}"
        name = path.stem
        if name in loaded.entities or name in loaded.errors:
            loaded.errors[name] = EntityError(
                label, "", f"a second file for `{name}`", "keep one of <name>.yml and <name>.yaml"
            )
            loaded.entities.pop(name, None)
            continue
        try:
            loaded.entities[name] = parse_entity(path.read_text(encoding="utf-8"), label, name)
        except EntityError as err:
            loaded.errors[name] = err
    for name, problem in check_references(loaded.segments, loaded.funnels, loaded.errors).items():
        loaded.entities.pop(name, None)
        loaded.errors[name] = problem
    return loaded


def references(condition: Condition | None) -> list[InSegment]:
    """The in_segment conditions under `condition`, in file order."""
    if condition is None:
        return []
    if isinstance(condition, InSegment):
        return [condition]
    if isinstance(condition, Group):
        return [r for c in condition.conditions for r in references(c)]
    if isinstance(condition, Not):
        return references(condition.condition)
    return []


def check_references(
    segments: Mapping[str, Segment],
    funnels: Mapping[str, Funnel],
    broken: Mapping[str, EntityError],
) -> dict[str, EntityError]:
    """Segments whose in_segment names no segment, one that is broken, or a cycle."""
    errors: dict[str, EntityError] = {}
    for name, segment in segments.items():
        for ref in references(segment.root):
            subject = f"`in_segment: {ref.segment}`"
            if ref.segment in funnels:
                errors[name] = EntityError(
                    segment.file, ref.path, subject, f"{ref.segment} is a funnel; name a segment"
                )
            elif ref.segment not in segments and ref.segment not in broken:
                known = ", ".join(sorted(segments)) or "none"
                errors[name] = EntityError(
                    segment.file, ref.path, subject, f"no such segment (segments: {known})"
                )
            if name in errors:
                break
    # cycles: a depth-first walk; every segment on a cycle gets the cycle in its error
    state: dict[str, int] = {}  # 1 on the stack, 2 done

    def visit(name: str, stack: list[str]) -> None:
        state[name] = 1
        stack.append(name)
        for ref in references(segments[name].root):
            target = ref.segment
            if target not in segments:
                continue
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                for member in cycle[:-1]:
                    seg = segments[member]
                    at = next(r for r in references(seg.root) if r.segment in cycle)
                    errors.setdefault(
                        member,
                        EntityError(
                            seg.file,
                            at.path,
                            f"`in_segment: {at.segment}`",
                            "segments refer to each other in a cycle: " + " -> ".join(cycle),
                        ),
                    )
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[name] = 2

    for name in sorted(segments):
        if name not in state:
            visit(name, [])
    # a segment that needs a broken one is broken too
    changed = True
    while changed:
        changed = False
        for name, segment in segments.items():
            if name in errors:
                continue
            for ref in references(segment.root):
                if ref.segment in errors or ref.segment in broken:
                    errors[name] = EntityError(
                        segment.file,
                        ref.path,
                        f"`in_segment: {ref.segment}`",
                        f"{ref.segment} is broken; fix it first",
                    )
                    changed = True
                    break
    return errors
