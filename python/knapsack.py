#!/usr/bin/python3
"""Multiple-choice knapsack by dynamic programming over an integer budget (standard library only).

The mixed-precision search of TECHNIQUES.md §3.8 (python/mixed_precision.py) picks one bit-width
candidate per layer so that the summed sensitivity is smallest while the summed cost stays within a
budget. That is the multiple-choice knapsack problem: groups of items (cost, value), exactly one item
per group, minimise the total value subject to total cost <= budget. With costs that are small
integers (the caller discretises bytes or seconds into units) the dynamic programme below is exact:

    best_g[c] = min over items i of group g of  best_{g-1}[c - cost_i] + value_i,

best_g[c] being the least total value of one item from each of groups 0..g at total cost exactly c.
Time O(budget * number of items), memory O(budget * number of groups) for the back-pointers.

Ties are broken deterministically: among the choices of least total value, the one of least total
cost; among those, the smallest item index in the last group, then in the group before, and so on
(the reversed index tuple is lexicographically smallest). Values are compared exactly (==), so
"equal" for float values means equal as computed by adding them in group order.
"""

INF = float("inf")


def solve(groups, budget):
    """One item per group minimising the summed value with the summed cost at most `budget`.

    groups: a sequence of non-empty sequences of items (cost, value, label) -- cost a non-negative
            int (in the caller's units), value a real number, label anything (not read);
    budget: a non-negative int, in the same units as the costs.
    Returns the list of chosen item indices, one per group ([] for no groups).
    Raises ValueError when no choice fits the budget (or a group is empty, or a cost or the
    budget is negative or not an integer).
    """
    if not isinstance(budget, int) or budget < 0:
        raise ValueError("the budget must be a non-negative integer, not %r" % (budget,))
    groups = [list(g) for g in groups]
    for gi, g in enumerate(groups):
        if not g:
            raise ValueError("group %d has no item: infeasible" % gi)
        for item in g:
            if not isinstance(item[0], int) or item[0] < 0:
                raise ValueError("group %d: the cost %r is not a non-negative integer" % (gi, item[0]))
    # A cheap infeasibility test before the table: the cheapest item of every group.
    least = sum(min(item[0] for item in g) for g in groups)
    if least > budget:
        raise ValueError("infeasible: the cheapest choice costs %d > budget %d" % (least, budget))

    best = [0.0] + [INF] * budget  # no group yet: cost exactly 0 at value 0
    back = []  # back[g][c]: the item of group g in the best choice of total cost exactly c (-1: none)
    reach = 0  # the largest total cost reachable so far (capped at the budget)
    for g in groups:
        new = [INF] * (budget + 1)
        arg = [-1] * (budget + 1)
        for i, (cost, value, _label) in enumerate(g):
            if cost > budget:
                continue
            top = min(budget, reach + cost)
            for c in range(cost, top + 1):
                prev = best[c - cost]
                if prev == INF:
                    continue
                v = prev + value
                if v < new[c]:  # strict: the smallest index wins a tie
                    new[c] = v
                    arg[c] = i
        reach = min(budget, reach + max(item[0] for item in g))
        best = new
        back.append(arg)

    # The least value; among equal values the least cost.
    end, end_value = -1, INF
    for c in range(budget + 1):
        if best[c] < end_value:
            end, end_value = c, best[c]
    if end < 0:
        raise ValueError("infeasible: no choice of one item per group fits the budget %d" % budget)
    choice = [0] * len(groups)
    c = end
    for gi in range(len(groups) - 1, -1, -1):
        i = back[gi][c]
        choice[gi] = i
        c -= groups[gi][i][0]
    assert c == 0
    return choice


def totals(groups, choice):
    """(total cost, total value) of a choice (item indices, one per group)."""
    cost = sum(groups[g][i][0] for g, i in enumerate(choice))
    value = 0.0
    for g, i in enumerate(choice):
        value += groups[g][i][1]
    return cost, value
