#!/usr/bin/python3
"""Tests of python/knapsack.py (the multiple-choice knapsack of the mixed-precision search).

Standard library only: run as `python3 python/test_knapsack.py` or `python3 -m unittest test_knapsack`
from python/.
"""

import itertools
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import knapsack  # noqa: E402


def brute_force(groups, budget):
    """Every choice; the documented order: least value, then least cost, then the reversed index
    tuple lexicographically smallest. None when nothing fits."""
    best = None
    for choice in itertools.product(*[range(len(g)) for g in groups]):
        cost, value = knapsack.totals(groups, choice)
        if cost > budget:
            continue
        key = (value, cost, tuple(reversed(choice)))
        if best is None or key < best:
            best = key
    return best


class Knapsack(unittest.TestCase):
    def test_matches_brute_force_on_random_instances(self):
        rng = random.Random(20240518)
        for trial in range(300):
            n_groups = rng.randint(1, 5)
            groups = [[(rng.randint(0, 12), rng.randint(0, 30), "g%di%d" % (g, i))
                       for i in range(rng.randint(1, 4))] for g in range(n_groups)]
            budget = rng.randint(0, 12 * n_groups)
            want = brute_force(groups, budget)
            with self.subTest(trial=trial, groups=groups, budget=budget):
                if want is None:
                    with self.assertRaises(ValueError):
                        knapsack.solve(groups, budget)
                    continue
                choice = knapsack.solve(groups, budget)
                cost, value = knapsack.totals(groups, choice)
                self.assertLessEqual(cost, budget)
                # Integer values: the optimum and the tie-breaking are exact.
                self.assertEqual((value, cost, tuple(reversed(choice))), want)

    def test_float_values_reach_the_optimum(self):
        rng = random.Random(7)
        for trial in range(100):
            groups = [[(rng.randint(1, 20), rng.random(), None) for _ in range(rng.randint(1, 5))]
                      for _ in range(rng.randint(1, 4))]
            budget = rng.randint(10, 60)
            want = brute_force(groups, budget)
            with self.subTest(trial=trial):
                if want is None:
                    self.assertRaises(ValueError, knapsack.solve, groups, budget)
                    continue
                cost, value = knapsack.totals(groups, knapsack.solve(groups, budget))
                self.assertLessEqual(cost, budget)
                self.assertAlmostEqual(value, want[0], places=12)

    def test_infeasible_budget_raises(self):
        groups = [[(5, 1.0, "a"), (3, 2.0, "b")], [(4, 0.0, "c")]]
        self.assertEqual(knapsack.solve(groups, 7), [1, 0])
        with self.assertRaises(ValueError):
            knapsack.solve(groups, 6)  # the cheapest choice costs 3 + 4
        with self.assertRaises(ValueError):
            knapsack.solve(groups, -1)
        with self.assertRaises(ValueError):
            knapsack.solve([[(1, 0.0, "a")], []], 10)  # an empty group

    def test_bad_costs_are_rejected(self):
        with self.assertRaises(ValueError):
            knapsack.solve([[(-1, 0.0, "a")]], 5)
        with self.assertRaises(ValueError):
            knapsack.solve([[(1.5, 0.0, "a")]], 5)
        with self.assertRaises(ValueError):
            knapsack.solve([[(1, 0.0, "a")]], 5.0)

    def test_ties_prefer_least_cost_then_smallest_index(self):
        # Equal values: the cheaper item, wherever it stands.
        self.assertEqual(knapsack.solve([[(3, 1.0, "a"), (2, 1.0, "b"), (4, 1.0, "c")]], 10), [1])
        # Equal value and cost: the first item.
        self.assertEqual(knapsack.solve([[(2, 1.0, "a"), (2, 1.0, "b")]], 10), [0])
        # Two groups, all values equal: the least cost (a, d) although index 0 of group 1 is dearer.
        groups = [[(1, 0.0, "a"), (2, 0.0, "b")], [(2, 0.0, "c"), (1, 0.0, "d")]]
        self.assertEqual(knapsack.solve(groups, 3), [0, 1])
        # Equal value and cost everywhere: the first item of every group.
        groups = [[(1, 0.0, "a"), (1, 0.0, "b")], [(1, 0.0, "c"), (1, 0.0, "d")]]
        self.assertEqual(knapsack.solve(groups, 2), [0, 0])
        # Equal value and cost, different ways: (b, c) and (a, d) cost 3; the last group decides first.
        groups = [[(1, 1.0, "a"), (2, 1.0, "b")], [(1, 1.0, "c"), (2, 1.0, "d"), (0, 5.0, "e")]]
        self.assertEqual(knapsack.solve(groups, 2), [0, 0])
        groups = [[(1, 2.0, "a"), (2, 1.0, "b")], [(1, 1.0, "c"), (2, 0.0, "d")]]
        self.assertEqual(knapsack.solve(groups, 3), [1, 0])  # (b, c) and (a, d): value 2, cost 3

    def test_one_group(self):
        group = [(10, 0.5, "w8"), (6, 1.5, "w4"), (3, 9.0, "w2")]
        self.assertEqual(knapsack.solve([group], 100), [0])
        self.assertEqual(knapsack.solve([group], 10), [0])
        self.assertEqual(knapsack.solve([group], 9), [1])
        self.assertEqual(knapsack.solve([group], 3), [2])
        self.assertRaises(ValueError, knapsack.solve, [group], 2)
        self.assertEqual(knapsack.solve([[(0, 4.0, "only")]], 0), [0])

    def test_no_groups(self):
        self.assertEqual(knapsack.solve([], 0), [])

    def test_budget_binds(self):
        # Spending the budget where it lowers the value most: a cheap improvement in group 1 beats a
        # dear one in group 0.
        groups = [[(1, 10.0, "lo"), (5, 4.0, "hi")], [(1, 10.0, "lo"), (2, 5.0, "hi")]]
        self.assertEqual(knapsack.solve(groups, 3), [0, 1])
        self.assertEqual(knapsack.solve(groups, 6), [1, 0])
        self.assertEqual(knapsack.solve(groups, 7), [1, 1])


if __name__ == "__main__":
    unittest.main()
