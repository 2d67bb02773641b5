import json, numpy as np, sys
exec(open(__file__.replace('failures_4v.py', 'tree_rules.py')).read().split("for rule in")[0])
exec("def oracle" + open(__file__.replace('failures_4v.py', 'tree_rules.py')).read().split("def oracle")[1].split("E = np")[0])
cats = {}
for r in rows:
    G = [np.array(g) for g in r["G"]]
    fe = score([np.array(x) for x in r["final"]], G)
    if (fe <= 15).all(): continue
    anchor = r["anchor"] or r["anchor_final"]
    unpl = [v for v in range(r["V"]) if anchor[v] < 0]
    sh = score(trees(r, "shipped"), G); orc = score(oracle(r), G)
    # per view error: view v vs 0
    Vv = r["V"]
    pairs = [(a, b) for a in range(Vv) for b in range(a + 1, Vv)]
    edges = {(a, b): (round(s, 2), round(ang(np.array(M)[:3, :3] @ (np.linalg.inv(G[b]) @ G[a])[:3, :3].T), 1)) for a, b, s, M in r["edges"]}
    c = "unplaced" if unpl else ("tree" if (orc <= 15).sum() > (sh <= 15).sum() else ("joint_broke" if (sh <= 15).sum() > (fe <= 15).sum() else "no_right_tree"))
    cats.setdefault(c, []).append(r["seed"])
    print(r["seed"], c, "unplaced", unpl, "final", np.round(fe, 1).tolist(), "shipped", np.round(sh, 1).tolist(), "oracle", np.round(orc, 1).tolist(), "edges", edges)
print({k: len(v) for k, v in cats.items()})
