"""Textbook MDPs used as golden values in tests (independent of the engines)."""

from __future__ import annotations

import numpy as np

# Sutton & Barto (2018), Example 3.5 / Figure 3.2: state values of the equiprobable random policy,
# gamma = 0.9, as printed (one decimal).
GRIDWORLD_RANDOM_V = np.array([
    [3.3, 8.8, 4.4, 5.3, 1.5],
    [1.5, 3.0, 2.3, 1.9, 0.5],
    [0.1, 0.7, 0.7, 0.4, -0.4],
    [-1.0, -0.4, -0.4, -0.6, -1.2],
    [-1.9, -1.3, -1.2, -1.4, -2.0],
])
# Example 3.8 / Figure 3.5: optimal state values v*, gamma = 0.9.
GRIDWORLD_OPTIMAL_V = np.array([
    [22.0, 24.4, 22.0, 19.4, 17.5],
    [19.8, 22.0, 19.8, 17.8, 16.0],
    [17.8, 19.8, 17.8, 16.0, 14.4],
    [16.0, 17.8, 16.0, 14.4, 13.0],
    [14.4, 16.0, 14.4, 13.0, 11.7],
])


def gridworld(exact: bool = False):
    """The 5x5 gridworld: actions N, S, E, W; leaving the grid costs -1 and stays; from A=(0,1)
    every action gives +10 and moves to A'=(4,1); from B=(0,3) +5 and to B'=(2,3)."""
    from fractions import Fraction

    n = 5
    S, A = n * n, 4
    one = Fraction(1) if exact else 1.0
    P = np.zeros((S, A, S), dtype=object if exact else float)
    r = np.zeros((S, A), dtype=object if exact else float)
    if exact:
        P[...] = Fraction(0)
        r[...] = Fraction(0)
    moves = [(-1, 0), (1, 0), (0, 1), (0, -1)]
    for i in range(n):
        for j in range(n):
            s = i * n + j
            for a, (di, dj) in enumerate(moves):
                if (i, j) == (0, 1):
                    P[s, a, 4 * n + 1] = one
                    r[s, a] = 10 * one
                elif (i, j) == (0, 3):
                    P[s, a, 2 * n + 3] = one
                    r[s, a] = 5 * one
                else:
                    ni, nj = i + di, j + dj
                    if 0 <= ni < n and 0 <= nj < n:
                        P[s, a, ni * n + nj] = one
                    else:
                        P[s, a, s] = one
                        r[s, a] = -one
    return P, r
