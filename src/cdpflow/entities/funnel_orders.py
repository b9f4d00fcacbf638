"""The orders a funnel's steps may be reached in, each rendered as the CTEs that turn the tagged
events of `tagged` into `attempts` (person, event_id, t1, step_times); see Compiler.funnel_sql
for PostHog's rules they follow.
"""

from __future__ import annotations


def _reached(n: int, window: str) -> str:
    """step_times of an attempt from its entry t1 and each next step's time r2..rn (null when
    never reached): the steps reached in a row, each no later than t1 + window."""
    chain = []
    ok = "true"
    for k in range(2, n + 1):
        ok = f"{ok} AND r{k} IS NOT NULL AND r{k} <= t1 + {window}"
        chain.append(f"CAST({ok} AS INTEGER)")
    times = ", ".join(["t1", *(f"r{k}" for k in range(2, n + 1))])
    return f"list_slice(list_value({times}), 1, 1 + {' + '.join(chain)})"


def sequential(n: int, any_step: str, window: str) -> list[str]:
    """Each step after the one before, other events allowed between: from every entry, the
    earliest next event of each step in turn (taking the earliest reaches the most steps)."""
    nexts = ", ".join(
        f"min(CASE WHEN s{k} THEN ord END) OVER later AS n{k}" for k in range(2, n + 1)
    )
    ctes = [
        "steps AS (SELECT *, row_number() OVER (PARTITION BY person ORDER BY t, event_id) AS ord "
        f"FROM tagged WHERE {any_step})",
        f"nexts AS (SELECT person, ord, t, event_id, s1, {nexts} FROM steps WINDOW later AS "
        "(PARTITION BY person ORDER BY ord ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING))",
        "chain1 AS (SELECT person, event_id, t AS t1, n2 AS o2 FROM nexts WHERE s1)",
    ]
    for k in range(2, n + 1):
        following = f", r.n{k + 1} AS o{k + 1}" if k < n else ""
        ctes.append(
            f"chain{k} AS (SELECT a.*, r.t AS r{k}{following} FROM chain{k - 1} AS a "
            f"LEFT JOIN nexts AS r ON r.person = a.person AND r.ord = a.o{k})"
        )
    ctes.append(
        f"attempts AS (SELECT person, event_id, t1, {_reached(n, window)} AS step_times "
        f"FROM chain{n})"
    )
    return ctes


def strict(n: int, window: str) -> list[str]:
    """Each step the very next event of the person (of any track, page or screen event)."""
    leads = []
    for k in range(2, n + 1):
        leads.append(f"lead(s{k}, {k - 1}) OVER w AS l{k}, lead(t, {k - 1}) OVER w AS lt{k}")
    times = []
    ok = "true"
    for k in range(2, n + 1):
        ok = f"{ok} AND coalesce(l{k}, false)"
        times.append(f"CASE WHEN {ok} THEN lt{k} END AS r{k}")
    return [
        "entrants AS (SELECT DISTINCT person FROM tagged WHERE s1)",
        f"ordered AS (SELECT tagged.*, {', '.join(leads)} FROM tagged SEMI JOIN entrants "
        "USING (person) WINDOW w AS (PARTITION BY person ORDER BY t, event_id))",
        f"chain AS (SELECT person, event_id, t AS t1, {', '.join(times)} FROM ordered WHERE s1)",
        f"attempts AS (SELECT person, event_id, t1, {_reached(n, window)} AS step_times "
        "FROM chain)",
    ]


def unordered(n: int, any_step: str, window: str) -> list[str]:
    """The steps in any order: from every event of any step, the first time of each step
    within the window; steps reached are the distinct steps done, at the times they were."""
    firsts = ", ".join(f"min(CASE WHEN s{k} THEN t END) OVER w AS f{k}" for k in range(1, n + 1))
    listed = ", ".join(f"f{k}" for k in range(1, n + 1))
    return [
        f"anchored AS (SELECT person, event_id, t AS t1, {firsts} FROM tagged WHERE {any_step} "
        f"WINDOW w AS (PARTITION BY person ORDER BY t RANGE BETWEEN CURRENT ROW AND {window} "
        "FOLLOWING))",
        "attempts AS (SELECT person, event_id, t1, "
        f"list_sort(list_filter(list_value({listed}), lambda f: f IS NOT NULL)) AS step_times "
        "FROM anchored)",
    ]
