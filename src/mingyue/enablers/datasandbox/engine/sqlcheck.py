"""The SQL wall: parse aggregate SQL with sqlglot, check it against an allow-list, plan its execution.

Only a single SELECT with aggregates over registered datasets passes. Every node of the parsed tree
must be of an allowed type (allow-list, not deny-list): anything else — a table function such as
read_csv/glob/query, a UDF, COPY/ATTACH/PRAGMA/SET, a subquery, a window — is refused with a rule id.
The planner then writes the SQL that actually runs (clamped sums for DP, a hidden group-size count).
"""

# ruff: noqa: S608  (the predicate is parsed and checked against the allow-list before it runs)
from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

from .datasets import Column, ColumnClass, Dataset
from .errors import InvalidSpec, Refusal

# Scalar node types that may appear anywhere (filters, group keys, aggregate arguments).
_SCALAR_NODES: tuple[type[exp.Expression], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Placeholder,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Between,
    exp.In,
    exp.Is,
    exp.Like,
    exp.ILike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.Neg,
    exp.Cast,
    exp.TryCast,
    exp.DataType,
    exp.Case,
    exp.If,
    exp.Coalesce,
    exp.Year,
    exp.Month,
    exp.Day,
    exp.Extract,
    exp.Var,
    exp.TimestampTrunc,
    exp.DateTrunc,
    exp.Lower,
    exp.Upper,
    exp.Length,
    exp.Substring,
    exp.Abs,
    exp.Round,
    exp.Floor,
    exp.Ceil,
    exp.Least,
    exp.Greatest,
)
# Clause node types of the one allowed statement shape.
_CLAUSE_NODES: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.From,
    exp.Table,
    exp.TableAlias,
    exp.Join,
    exp.Where,
    exp.Group,
    exp.Having,
    exp.Order,
    exp.Ordered,
    exp.Alias,
    exp.Star,
    exp.Distinct,
)
_EXACT_AGGS: tuple[type[exp.Expression], ...] = (
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Median,
    exp.PercentileCont,
    exp.Quantile,
)
_DP_AGGS: tuple[type[exp.Expression], ...] = (exp.Count, exp.Sum, exp.Avg)
# MIN and MAX are deliberately absent: each returns one record's exact value.
ROW_REVEALING = {
    "min",
    "max",
    "first",
    "last",
    "any_value",
    "arg_min",
    "arg_max",
    "list",
    "array_agg",
    "string_agg",
    "group_concat",
    "mode",
    "histogram",
}


@dataclass(frozen=True)
class Output:
    """One released column: a group key or one aggregate."""

    name: str
    kind: str  # "key" | "count" | "sum" | "avg" | "exact"
    sql: str  # the expression as written (normalised)
    column: Column | None = None  # the aggregated column for sum/avg
    bounds: tuple[float, float] | None = None
    integer: bool = True


@dataclass
class Plan:
    """A checked query and the SQL that runs inside the sandbox."""

    sql: str  # the SQL executed (aliases k0.., a0.., __n)
    datasets: list[str]
    outputs: list[Output]
    n_keys: int
    dp: bool
    contributions: int  # rows one privacy unit can contribute to the joined input
    params: list[Any] | dict[str, Any] = field(default_factory=list)
    hidden_count: bool = False  # __n added only for the gate / threshold

    @property
    def grouped(self) -> bool:
        return self.n_keys > 0


def _refuse(rule: str, message: str, **params: Any) -> Refusal:
    return Refusal(rule, message, **params)


def _check_params(params: Any, placeholders: list[exp.Placeholder]) -> list[Any] | dict[str, Any]:
    named = [p.name for p in placeholders if p.name and p.name != "?" and not p.name.isdigit()]
    if placeholders and params is None:
        raise _refuse("sql.parameter_missing", "the query has parameters but none were given")
    if not placeholders:
        if params:
            raise _refuse("sql.parameter_unused", "parameters were given but the query has none")
        return []
    ok_types = (str, int, float, bool, dt.date, dt.datetime)
    values = list(params.values()) if isinstance(params, dict) else list(params)
    for v in values:
        if v is not None and not isinstance(v, ok_types):
            raise _refuse(
                "sql.parameter_type",
                f"parameter values must be scalars, got {type(v).__name__}",
                type=type(v).__name__,
            )
    if named:
        if not isinstance(params, dict) or set(named) - set(params):
            raise _refuse("sql.parameter_missing", f"named parameters needed: {sorted(set(named))}")
        return dict(params)
    if isinstance(params, dict):
        raise _refuse("sql.parameter_missing", "positional parameters need a list")
    return list(params)


class _Scope:
    def __init__(self, datasets: dict[str, Dataset]) -> None:
        self.datasets = datasets
        self.aliases: dict[str, Dataset] = {}

    def add(self, table: exp.Table) -> None:
        if (
            not isinstance(table.this, exp.Identifier)
            or table.args.get("db")
            or table.args.get("catalog")
        ):
            raise _refuse(
                "sql.table_function",
                f"only registered datasets may be read, not {table.sql(dialect='duckdb')!r}",
                table=table.sql(dialect="duckdb"),
            )
        name = table.name.lower()
        if name not in self.datasets:
            raise _refuse(
                "sql.unknown_dataset",
                f"no dataset named {table.name!r} in this request",
                dataset=table.name,
            )
        alias = (table.alias or table.name).lower()
        if alias in self.aliases:
            raise _refuse("sql.duplicate_alias", f"alias {alias!r} used twice", alias=alias)
        self.aliases[alias] = self.datasets[name]

    def resolve(self, col: exp.Column) -> tuple[Dataset, Column]:
        if col.args.get("db") or col.args.get("catalog"):
            raise _refuse("sql.column_path", f"column path not allowed: {col.sql()}")
        if col.table:
            ds = self.aliases.get(col.table.lower())
            if ds is None:
                raise _refuse(
                    "sql.unknown_table", f"unknown table alias {col.table!r}", alias=col.table
                )
            c = ds.column(col.name)
            if c is None:
                raise _refuse(
                    "sql.unknown_column", f"{ds.name} has no column {col.name!r}", column=col.name
                )
            return ds, c
        hits = [(ds, ds.column(col.name)) for ds in self.aliases.values() if ds.column(col.name)]
        if not hits:
            raise _refuse("sql.unknown_column", f"no column {col.name!r}", column=col.name)
        if len({id(d) for d, _ in hits}) > 1:
            raise _refuse(
                "sql.ambiguous_column",
                f"column {col.name!r} is ambiguous; qualify it",
                column=col.name,
            )
        return hits[0]  # type: ignore[return-value]


def _walk_allowed(node: exp.Expression, aggs: tuple[type[exp.Expression], ...]) -> None:
    for n in node.walk():
        if isinstance(
            n, exp.Subquery | exp.Union | exp.Intersect | exp.Except | exp.With | exp.CTE
        ):
            raise _refuse("sql.subquery", "subqueries, CTEs and set operations are not allowed")
        if isinstance(n, exp.Window):
            raise _refuse("sql.window", "window functions are not allowed")
        if isinstance(n, exp.Limit | exp.Offset | exp.Fetch | exp.TableSample):
            raise _refuse("sql.limit", "LIMIT, OFFSET and SAMPLE are not allowed")
        if isinstance(n, exp.Select) and n is not node:
            raise _refuse("sql.subquery", "subqueries are not allowed")
        if isinstance(n, _SCALAR_NODES + _CLAUSE_NODES + aggs):
            continue
        if isinstance(n, exp.Func):
            fname = (n.name if isinstance(n, exp.Anonymous) else n.sql_name()).lower()
            if fname in ROW_REVEALING or isinstance(n, exp.Min | exp.Max | exp.ArgMax | exp.ArgMin):
                raise _refuse(
                    "sql.row_revealing_aggregate",
                    f"{fname.upper()} returns one record's value and is not allowed",
                    function=fname,
                )
            if isinstance(n, exp.AggFunc) and aggs is _DP_AGGS:
                raise _refuse(
                    "dp.unsupported_aggregate",
                    f"{fname.upper()} has no differentially private version here (COUNT, SUM, AVG)",
                    function=fname,
                )
            raise _refuse(
                "sql.function_not_allowed",
                f"function {fname!r} is not on the allow-list",
                function=fname,
            )
        raise _refuse(
            "sql.construct_not_allowed",
            f"{type(n).__name__} is not allowed in sandbox queries",
            node=type(n).__name__,
        )


def parse_one(sql: str) -> exp.Select:
    """Parse exactly one statement and require it to be a SELECT."""
    if not isinstance(sql, str) or not sql.strip():
        raise _refuse("sql.empty", "empty query")
    if len(sql) > 20_000:
        raise _refuse("sql.too_long", "query longer than 20000 characters")
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise _refuse("sql.syntax", f"cannot parse the query: {str(exc)[:200]}") from exc
    if len(statements) != 1:
        raise _refuse("sql.multiple_statements", "exactly one statement is allowed")
    stmt = statements[0]
    if not isinstance(stmt, exp.Select):
        raise _refuse(
            "sql.statement_not_allowed",
            f"only SELECT is allowed, not {type(stmt).__name__.upper()}",
            statement=type(stmt).__name__,
        )
    return stmt


def tables_in(stmt: exp.Select) -> list[str]:
    """Return the (lower-cased) names of the tables a parsed statement reads, sorted."""
    return sorted({t.name.lower() for t in stmt.find_all(exp.Table)})


def plan(
    sql: str | exp.Select,
    datasets: dict[str, Dataset],
    *,
    dp: bool,
    params: Any = None,
    max_keys: int = 4,
) -> Plan:
    """Check ``sql`` against the rules and return the plan that runs it; raise Refusal if not.

    ``sql`` is the text or the statement ``parse_one`` returned for it (read, never changed).
    """
    stmt = sql if isinstance(sql, exp.Select) else parse_one(sql)
    aggs = _DP_AGGS if dp else _EXACT_AGGS
    _walk_allowed(stmt, aggs)
    bound = _check_params(params, list(stmt.find_all(exp.Placeholder)))
    scope = _Scope({k.lower(): v for k, v in datasets.items()})
    from_key = "from_" if "from_" in stmt.args else "from"
    from_ = stmt.args.get(from_key)
    if from_ is None:
        raise _refuse("sql.no_dataset", "the query reads no dataset")
    if not isinstance(from_.this, exp.Table):
        raise _refuse("sql.table_function", "FROM must name a dataset")
    scope.add(from_.this)
    first_alias = (from_.this.alias or from_.this.name).lower()
    # fanout[alias]: most rows of the joined relation that one row of that alias ends up in.
    fanout: dict[str, int] = {first_alias: 1}
    for join in stmt.args.get("joins") or []:
        if not isinstance(join.this, exp.Table):
            raise _refuse("sql.table_function", "JOIN must name a dataset")
        if join.args.get("using") or join.args.get("kind") == "CROSS" or not join.args.get("on"):
            raise _refuse("sql.join_shape", "joins need ON <identifier> = <identifier>")
        if (join.side or "").upper() not in ("", "LEFT", "INNER") or join.method:
            raise _refuse("sql.join_shape", "only INNER and LEFT joins are allowed")
        scope.add(join.this)
        new_alias = (join.this.alias or join.this.name).lower()
        conds = (
            list(join.args["on"].flatten())
            if isinstance(join.args["on"], exp.And)
            else [join.args["on"]]
        )
        new_mult: int | None = None
        old_side: tuple[str, int] | None = None
        for cond in conds:
            if not (
                isinstance(cond, exp.EQ)
                and isinstance(cond.left, exp.Column)
                and isinstance(cond.right, exp.Column)
            ):
                raise _refuse(
                    "sql.join_shape", "join conditions are column = column on identifiers"
                )
            for side in (cond.left, cond.right):
                ds, c = scope.resolve(side)
                if c.cls is not ColumnClass.IDENTIFIER:
                    raise _refuse(
                        "sql.join_key", f"{c.name} is not a fusion key (identifier)", column=c.name
                    )
            sides = [(side, *scope.resolve(side)) for side in (cond.left, cond.right)]
            for side, ds, c in sides:
                alias = (side.table or "").lower() or next(
                    a for a, d in scope.aliases.items() if d is ds
                )
                mult = ds.multiplicity(c.name)
                if mult is None:
                    raise _refuse(
                        "dp.join_key", f"the fan-out of {c.name} is unknown", column=c.name
                    )
                if alias == new_alias:
                    new_mult = mult if new_mult is None else min(new_mult, mult)
                else:
                    old_side = (
                        (alias, mult)
                        if old_side is None
                        else min(old_side, (alias, mult), key=lambda t: t[1] * fanout.get(t[0], 1))
                    )
        if new_mult is None or old_side is None:
            raise _refuse("sql.join_shape", "a join must link the new dataset to one before it")
        # Every existing row meets at most new_mult rows of the new dataset; every new row meets
        # at most (rows per key value on the old side) × (its fan-out so far) existing rows.
        new_fanout = old_side[1] * fanout.get(old_side[0], 1)
        for a in fanout:
            fanout[a] *= new_mult
        fanout[new_alias] = new_fanout
    contributions = max(scope.aliases[a].max_contributions * f for a, f in fanout.items())
    resolved: dict[int, tuple[Dataset, Column]] = {}
    for col in stmt.find_all(exp.Column):
        resolved[id(col)] = scope.resolve(col)
    where = stmt.args.get("where")
    if where is not None:
        for col in where.find_all(exp.Column):
            c = resolved[id(col)][1]
            if c.cls is ColumnClass.IDENTIFIER:
                raise _refuse(
                    "sql.identifier_in_filter",
                    f"filtering on identifier {c.name} "
                    "would target single records; use a verification product",
                    column=c.name,
                )
        if any(isinstance(n, exp.AggFunc) for n in where.walk()):
            raise _refuse("sql.construct_not_allowed", "aggregates are not allowed in WHERE")
    group = stmt.args.get("group")
    selects = list(stmt.expressions)
    if any(isinstance(s, exp.Star) for s in selects):
        raise _refuse("sql.select_star", "SELECT * would release raw rows")

    def unalias(e: exp.Expression) -> exp.Expression:
        return e.this if isinstance(e, exp.Alias) else e

    group_exprs: list[exp.Expression] = []
    if group is not None:
        if group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets"):
            raise _refuse(
                "sql.construct_not_allowed", "ROLLUP, CUBE and GROUPING SETS are not allowed"
            )
        for g in group.expressions:
            if isinstance(g, exp.Literal) and g.is_int:
                idx = int(g.this) - 1
                if not 0 <= idx < len(selects):
                    raise _refuse("sql.group_key", f"GROUP BY {g.this} is out of range")
                g = unalias(selects[idx])
            elif isinstance(g, exp.Column) and not g.table:
                for s in selects:
                    if isinstance(s, exp.Alias) and s.alias.lower() == g.name.lower():
                        g = s.this
            group_exprs.append(g)
    if len(group_exprs) > max_keys:
        raise _refuse("sql.too_many_keys", f"at most {max_keys} GROUP BY keys", limit=max_keys)
    for g in group_exprs:
        if any(isinstance(n, exp.AggFunc) for n in g.walk()):
            raise _refuse("sql.group_key", "aggregates cannot be GROUP BY keys")
        for col in g.find_all(exp.Column):
            ds, c = resolved.get(id(col)) or scope.resolve(col)
            if c.cls is ColumnClass.IDENTIFIER:
                raise _refuse(
                    "sql.group_by_identifier",
                    f"GROUP BY identifier {c.name} would release one group per record",
                    column=c.name,
                )
    if stmt.args.get("having") is not None and dp:
        raise _refuse("dp.having", "HAVING filters on exact aggregates; not allowed with DP")
    if stmt.args.get("distinct"):
        raise _refuse("sql.select_distinct", "SELECT DISTINCT releases rows; use GROUP BY")
    group_sqls = [g.sql(dialect="duckdb") for g in group_exprs]
    outputs: list[Output] = []
    select_sql: list[str] = []
    for i, s in enumerate(selects):
        e = unalias(s)
        name = (
            s.alias
            if isinstance(s, exp.Alias)
            else (e.name if isinstance(e, exp.Column) else e.sql(dialect="duckdb").lower())
        )
        if not any(isinstance(n, exp.AggFunc) for n in e.walk()):
            if e.sql(dialect="duckdb") not in group_sqls:
                cols = [resolved.get(id(c), (None, None))[1] for c in e.find_all(exp.Column)]
                if any(c is not None and c.cls is ColumnClass.IDENTIFIER for c in cols):
                    raise _refuse(
                        "sql.identifier_output", f"output {name!r} is an identifier", column=name
                    )
                raise _refuse(
                    "sql.non_aggregate_output",
                    f"output {name!r} is neither an aggregate nor a GROUP BY key",
                    column=name,
                )
            outputs.append(Output(name, "key", e.sql(dialect="duckdb")))
            select_sql.append(f"{e.sql(dialect='duckdb')} AS k{i}")
            continue
        if not isinstance(e, aggs):
            raise _refuse(
                "sql.output_shape",
                f"output {name!r} must be one aggregate call "
                "(COUNT, SUM, AVG" + ("" if dp else ", MEDIAN, QUANTILE_CONT") + ")",
                column=name,
            )
        arg = e.this
        if any(isinstance(n, exp.AggFunc) for n in arg.walk() if n is not e) if arg else False:
            raise _refuse("sql.output_shape", "nested aggregates are not allowed")
        arg_cols = [resolved[id(c)] for c in (arg.find_all(exp.Column) if arg is not None else [])]
        if isinstance(e, exp.Count):
            if dp and (isinstance(arg, exp.Distinct)):
                raise _refuse(
                    "dp.unsupported_aggregate", "COUNT(DISTINCT …) is not supported with DP"
                )
            outputs.append(Output(name, "count" if dp else "exact", e.sql(dialect="duckdb")))
            select_sql.append(f"{e.sql(dialect='duckdb')} AS a{i}")
            continue
        for _, c in arg_cols:
            if c.cls is ColumnClass.IDENTIFIER:
                raise _refuse(
                    "sql.identifier_output",
                    f"aggregating identifier {c.name} is not allowed",
                    column=c.name,
                )
        if not dp:
            outputs.append(Output(name, "exact", e.sql(dialect="duckdb")))
            select_sql.append(f"{e.sql(dialect='duckdb')} AS a{i}")
            continue
        if not isinstance(arg, exp.Column):
            raise _refuse("dp.aggregate_argument", "with DP, SUM and AVG take one column")
        _, c = resolved[id(arg)]
        if not c.is_numeric or c.bounds is None:
            raise _refuse("dp.no_bounds", f"{c.name} has no clamping bounds", column=c.name)
        lo, hi = c.bounds
        integer = c.is_integer and float(lo).is_integer() and float(hi).is_integer()
        col_sql = arg.sql(dialect="duckdb")
        if integer:
            clamped = f"least(greatest({col_sql}, {int(lo)}), {int(hi)})"
        else:
            # Exact decimal arithmetic: float sums are order-dependent, which breaks DP proofs.
            clamped = f"least(greatest({col_sql}, {lo!r}), {hi!r})::DECIMAL(18, 4)"
        kind = "sum" if isinstance(e, exp.Sum) else "avg"
        outputs.append(Output(name, kind, e.sql(dialect="duckdb"), c, (lo, hi), integer))
        select_sql.append(f"sum({clamped}) AS a{i}")
        if kind == "avg":
            select_sql.append(f"count({col_sql}) AS c{i}")
    if not any(o.kind != "key" for o in outputs):
        raise _refuse("sql.no_aggregate", "the query releases no aggregate")
    n_keys = len(group_exprs)
    if n_keys and len([o for o in outputs if o.kind == "key"]) != n_keys:
        raise _refuse("sql.hidden_group_key", "every GROUP BY key must be an output column")
    hidden = False
    units = [ds.unit for ds in scope.aliases.values() if ds.unit]
    if dp:
        if not any(o.kind == "count" and o.sql.upper() == "COUNT(*)" for o in outputs):
            select_sql.append("count(*) AS __n")
            hidden = True
    else:
        first_alias = from_.this.alias or from_.this.name
        first = scope.aliases[first_alias.lower()]
        gate = f'count(DISTINCT "{first_alias}"."{first.unit}")' if first.unit else "count(*)"
        select_sql.append(f"{gate} AS __n")
        hidden = True
    body = exp.select(*[sqlglot.parse_one(x, read="duckdb") for x in select_sql])
    body.set(from_key, from_.copy())
    if stmt.args.get("joins"):
        body.set("joins", [j.copy() for j in stmt.args["joins"]])
    if where is not None:
        body.set("where", where.copy())
    if group_exprs:
        body = body.group_by(*[g.copy() for g in group_exprs])
    if stmt.args.get("having") is not None:
        body.set("having", stmt.args["having"].copy())
    del units
    return Plan(
        sql=body.sql(dialect="duckdb"),
        datasets=sorted({d.name for d in scope.aliases.values()}),
        outputs=outputs,
        n_keys=n_keys,
        dp=dp,
        contributions=contributions,
        params=bound,
        hidden_count=hidden,
    )


def check_predicate(
    predicate: str, dataset: Dataset, *, allowed: Collection[str] | None = None
) -> str:
    """Check a verification predicate (a boolean expression over non-identifier columns).

    With ``allowed`` (the owner's verification keys), any other column is refused, by name.
    """
    node = parse_one(f"SELECT 1 FROM t WHERE {predicate}")
    where = node.args.get("where")
    if where is None or node.args.get("joins") or len(node.expressions) != 1:
        raise _refuse("sql.syntax", "a predicate is one boolean expression")
    _walk_allowed(where, ())
    if any(isinstance(n, exp.Placeholder) for n in where.walk()):
        raise _refuse("sql.parameter_type", "predicates take literal values")
    for col in where.find_all(exp.Column):
        c = dataset.column(col.name)
        if c is None or col.table:
            raise _refuse("sql.unknown_column", f"no column {col.sql()!r}", column=col.sql())
        if c.cls is ColumnClass.IDENTIFIER:
            raise _refuse("sql.identifier_in_filter", "predicates cannot test identifiers")
        if allowed is not None and c.name.lower() not in {a.lower() for a in allowed}:
            raise _refuse(
                "verify.predicate_column",
                f"column {c.name!r} is not a verification key of {dataset.name}",
                column=c.name,
            )
    if not isinstance(
        where.this, exp.Predicate | exp.Connector | exp.Not | exp.Paren | exp.Boolean | exp.Column
    ):
        raise InvalidSpec("verify.predicate", "the predicate must be a boolean expression")
    return where.this.sql(dialect="duckdb")
