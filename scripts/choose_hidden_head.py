"""Choose a hidden-surface head and threshold from ``scripts/hidden_eval_gpu.sh``'s output.

Reads ``hidden_eval.json`` (run name ``<head>_p<threshold>_<V>v`` -> {"model": metrics};
``none_<V>v`` are the head-less rows) and applies the shipping rule of issue 11: a
(head, threshold) pair qualifies when the published cloud's ``completed_precision@5cm``
is at least ``--min-precision`` (0.70) at every view count of the file (a pair missing one
does not qualify), ``unjudged`` at most
``--max-unjudged`` (0.15) and F@5cm not below the head-less row's by more than
``--max-f-drop`` (0.005); among those, the largest mean ``hidden_recall@5cm`` over the
view counts wins. Prints one line per pair (qualified or why not) and the choice;
exit code 1 when nothing qualifies, 2 on bad input. Validation data only: the choice is
made on the dev frames, never on benchmark seeds.

With several files (e.g. the issue's 8 windows, then 24 windows of the same frames as a
check that the choice holds on more of them), a pair qualifies only if it qualifies in
every file (a pair absent from one does not); the mean recall of the first file ranks.

``--views 1`` applies the rule to the rows of those view counts alone (the head's
threshold for windows of one view, ``single_view_min_probability``, is chosen so on the
1-view rows; the other threshold on the rows of several views).

Usage: python scripts/choose_hidden_head.py OUT/hidden_eval.json [MORE.json ...]
       [--min-precision 0.7] [--views 1 ...]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

RUN = re.compile(r"^(?P<head>.+)_p(?P<p>[0-9.]+)_(?P<v>\d+)v$")
NONE = re.compile(r"^none_(?P<v>\d+)v$")


def choose(files: list[dict], **rule) -> tuple[tuple[str, float] | None, list[str]]:
    """Return the chosen (head, threshold) (None if none qualifies) and one line per pair.

    ``files``: results (module docstring); a pair must qualify in each, the first ranks.
    ``rule``: :func:`judge`'s thresholds.
    """
    verdicts, lines = [], []
    for i, results in enumerate(files):
        judged, file_lines = judge(results, **rule)
        verdicts.append(judged)
        lines += [f"[{i}] {line}" for line in file_lines] if len(files) > 1 else file_lines
    ok = [k for k, (_, good) in verdicts[0].items()
          if good and all(v.get(k, (0.0, False))[1] for v in verdicts[1:])]  # fmt: skip
    return max(ok, key=lambda k: verdicts[0][k][0], default=None), lines  # ties: the first


def judge(results: dict, min_precision: float = 0.70, max_unjudged: float = 0.15,
          max_f_drop: float = 0.005, views: set[int] | None = None,
          ) -> tuple[dict, list[str]]:  # fmt: skip
    """Return {(head, threshold): (mean recall, qualifies)} and one line per pair.

    ``views``: only the rows of these view counts (None: every row).
    """
    base, pairs = {}, defaultdict(dict)
    for name, methods in results.items():
        m = methods["model"]
        hit = NONE.match(name) or RUN.match(name)
        if hit is None or (views is not None and int(hit["v"]) not in views):
            continue
        if "head" in hit.groupdict():
            pairs[(hit["head"], float(hit["p"]))][int(hit["v"])] = m
        else:
            base[int(hit["v"])] = m
    lines, judged = [], {}
    every = set(base).union(*(rows.keys() for rows in pairs.values()))
    for key, rows in sorted(pairs.items()):
        views = sorted(rows)
        why = [f"{v}v not scored" for v in sorted(every - set(rows))]
        for v in views:
            m = rows[v]
            if m["completed_precision@5cm"] < min_precision:
                why.append(f"{v}v precision {m['completed_precision@5cm']:.3f}")
            if m["unjudged"] > max_unjudged:
                why.append(f"{v}v unjudged {m['unjudged']:.3f}")
            if v in base and m["fscore@5cm"] < base[v]["fscore@5cm"] - max_f_drop:
                why.append(f"{v}v F@5cm {m['fscore@5cm']:.3f} < {base[v]['fscore@5cm']:.3f}")
        recall = sum(rows[v]["hidden_recall@5cm"] for v in views) / len(views)
        cells = " ".join(f"{v}v {rows[v]['hidden_recall@5cm']:.3f}/"
                         f"{rows[v]['completed_precision@5cm']:.3f}" for v in views)  # fmt: skip
        lines.append(f"{key[0]} p={key[1]:g}: {cells} mean recall {recall:.3f} -> "
                     + ("qualifies" if not why else "no: " + ", ".join(why)))  # fmt: skip
        judged[key] = (recall, not why)
    return judged, lines


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", help="results files; the first ranks")
    ap.add_argument("--min-precision", type=float, default=0.70)
    ap.add_argument("--max-unjudged", type=float, default=0.15)
    ap.add_argument("--max-f-drop", type=float, default=0.005)
    ap.add_argument("--views", type=int, nargs="+", default=None,
                    help="only the rows of these view counts")  # fmt: skip
    args = ap.parse_args(argv)
    rule = dict(min_precision=args.min_precision, max_unjudged=args.max_unjudged,
                max_f_drop=args.max_f_drop,
                views=None if args.views is None else set(args.views))  # fmt: skip
    try:
        files = [json.loads(Path(path).read_text()) for path in args.results]
        chosen, lines = choose(files, **rule)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"choose_hidden_head: {' '.join(args.results)}: {exc!r}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    if chosen is None:
        print("no head qualifies")
        return 1
    print(f"chosen: {chosen[0]} --min-probability {chosen[1]:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
