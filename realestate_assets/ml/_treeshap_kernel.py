"""The compiled part of `ml/treeshap.py`: LightGBM's TreeSHAP (src/io/tree.cpp, 4.x), the same
floating-point operations in the same order, with each leaf's additions kept per hot/cold pattern.

Numba compiles without fast-math, so no operation is reordered or fused; `cache=True` keeps the
machine code beside this module (or in numba's cache directory) for the next process. On the
per-row path no array is handed to an inlined helper: numba counts its reference at every call,
with an atomic add and subtract (that was most of the kernel's time: docs/scale.md, twenty-fifth
round (b)).
"""

from __future__ import annotations

import numpy as np
from numba import njit

K_ZERO = np.float64(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float literal)


@njit(cache=True)
def _categorical_left(fval, split_threshold, cat_base, cat_boundaries, cat_threshold):
    """Tree::CategoricalDecision: True for the left child."""
    if np.isnan(fval):
        return False
    int_fval = np.int64(np.int32(fval)) if fval > -2147483648.0 and fval < 2147483648.0 else np.int64(-1)
    if int_fval < 0:
        return False
    cat_idx = cat_base + np.int64(np.int32(split_threshold))
    start = cat_boundaries[cat_idx]
    n = cat_boundaries[cat_idx + 1] - start
    i1 = int_fval // 32
    if i1 >= n:
        return False
    return ((cat_threshold[start + i1] >> np.uint32(int_fval % 32)) & np.uint32(1)) != 0


@njit(cache=True, inline="always")
def _numerical_left(fval, kind, split_threshold):
    """Tree::NumericalDecision: True for the left child. Scalars only: an array handed to a
    function numba inlines is reference-counted at each call (an atomic add and subtract), and
    with a node's arrays that was most of the kernel's time (docs/scale.md, twenty-fifth round (b))."""
    missing = (kind >> 2) & 3
    if np.isnan(fval) and missing != 2:
        fval = 0.0
    if (missing == 1 and fval >= -K_ZERO and fval <= K_ZERO) or (missing == 2 and np.isnan(fval)):
        return (kind & 2) != 0
    return fval <= split_threshold


@njit(cache=True, inline="always")
def _slot(key, capacity):
    """The table slot of a key: its bits mixed (splitmix64's finalizer), then the low ones."""
    z = np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return np.int64(z & np.uint64(capacity - 1))


@njit(cache=True)
def _leaf_additions(path_nodes, path_hot, d, base, leaf, left, right, split_feature, internal_count,
                    leaf_count, leaf_value, lbase, feature, zero, one, pweight, out_feature, out_value):
    """What one leaf adds for one hot/cold pattern of its path: the recursion of Tree::TreeSHAP
    from the root to this leaf, replayed in place (the same operations on the same values), then
    the leaf's loop. Returns how many (feature, value) additions, in LightGBM's order.

    Tree::ExtendPath, UnwindPath and UnwoundPathSum are written out here rather than called: each
    call of an inlined helper handed the path's four arrays counted their references (an atomic
    add and subtract each), ≈15% of the kernel's time after the node decisions lost theirs
    (docs/scale.md, twenty-fifth round (b), twenty-sixth round (c))."""
    # ExtendPath of the root (depth 0): the path's empty first element.
    feature[0] = -1
    zero[0] = 1.0
    one[0] = 1.0
    pweight[0] = 1.0
    depth = 0
    for k in range(d):
        g = base + path_nodes[k]
        child = path_nodes[k + 1] if k + 1 < d else leaf
        w = np.float64(internal_count[g])
        count = internal_count[base + child] if child >= 0 else leaf_count[lbase + ~child]
        child_zero = count / w
        incoming_zero = 1.0
        incoming_one = 1.0
        split = split_feature[g]
        path_index = 0
        while path_index <= depth:
            if feature[path_index] == split:
                break
            path_index += 1
        if path_index != depth + 1:
            incoming_zero = zero[path_index]
            incoming_one = one[path_index]
            # UnwindPath(depth, path_index)
            one_fraction = incoming_one
            zero_fraction = incoming_zero
            next_one_portion = pweight[depth]
            for i in range(depth - 1, -1, -1):
                if one_fraction != 0:
                    tmp = pweight[i]
                    pweight[i] = next_one_portion * (depth + 1) / np.float64((i + 1) * one_fraction)
                    next_one_portion = tmp - pweight[i] * zero_fraction * (depth - i) / np.float64(depth + 1)
                else:
                    pweight[i] = (pweight[i] * (depth + 1)) / np.float64(zero_fraction * (depth - i))
            for i in range(path_index, depth):
                feature[i] = feature[i + 1]
                zero[i] = zero[i + 1]
                one[i] = one[i + 1]
            depth -= 1
        depth += 1
        # ExtendPath(depth ≥ 1, child_zero · incoming_zero, incoming_one or 0, split)
        zero_fraction = child_zero * incoming_zero
        one_fraction = incoming_one if path_hot[k] else 0.0
        feature[depth] = split
        zero[depth] = zero_fraction
        one[depth] = one_fraction
        pweight[depth] = 0.0
        for i in range(depth - 1, -1, -1):
            pweight[i + 1] += one_fraction * pweight[i] * (i + 1) / np.float64(depth + 1)
            pweight[i] = zero_fraction * pweight[i] * (depth - i) / np.float64(depth + 1)
    n = 0
    value = leaf_value[lbase + ~leaf]
    for i in range(1, depth + 1):
        # UnwoundPathSum(depth, i)
        one_fraction = one[i]
        zero_fraction = zero[i]
        next_one_portion = pweight[depth]
        total = 0.0
        for j in range(depth - 1, -1, -1):
            if one_fraction != 0:
                tmp = next_one_portion * (depth + 1) / np.float64((j + 1) * one_fraction)
                total += tmp
                next_one_portion = pweight[j] - tmp * zero_fraction * ((depth - j) / np.float64(depth + 1))
            else:
                total += (pweight[j] / zero_fraction) / ((depth - j) / np.float64(depth + 1))
        out_feature[n] = feature[i]
        out_value[n] = total * (one[i] - zero[i]) * value
        n += 1
    return n


@njit(cache=True)
def _tree_rows(t, r, x, out, node_start, leaf_start, num_leaves, cat_start, split_feature, threshold, decision_type,
               left, right, internal_count, leaf_value, leaf_count, cat_boundaries, cat_threshold, leaf_bits, keys,
               slots, touched, add_start, add_len, add_feature, add_value, state, stack_node, stack_bits,
               stack_depth, path_nodes, path_hot, feature, zero, one, pweight, tmp_feature, tmp_value,
               row_keys, row_slots, row_touched, row_start, row_len, row_feature, row_value, group, sort_feature,
               sort_value):
    """Tree `t`'s additions to the rows of `x` from row `r` on, until a row might not find room in
    the memo (returns that row; the caller grows the memo) or the last row (returns len(x)).
    Apart from `contributions` so that no array is replaced inside this loop (numba would then
    count references on every pass).

    A second memo, by the row's whole decision vector in the tree (one bit an internal node, for
    trees of at most 64 leaves): a row that decides every node as an earlier row did gets the same
    additions in the same order, so it replays that row's list instead of walking the tree and
    looking up each leaf (docs/scale.md, twenty-fifth round (b)). Fixed room (`row_*`): when it is
    full, the rows walk the tree."""
    n_features = out.shape[1] - 1
    capacity = len(keys)
    base = node_start[t]
    lbase = leaf_start[t]
    cbase = cat_start[t]
    leaves = num_leaves[t]
    used = state[0]
    added = state[1]
    by_vector = leaves - 1 <= 63
    row_capacity = len(row_keys)
    while r < x.shape[0]:
        # Room for every leaf of the tree to be new in this row, or back to the caller.
        if (used + leaves) * 2 > capacity or used + leaves > len(add_start) \
                or added + leaves * (n_features + 1) > len(add_feature):
            break
        vector = np.int64(0)
        h_row = np.int64(-1)
        if by_vector:
            for node in range(leaves - 1):
                g = base + node
                kind = decision_type[g]
                fval = x[r, split_feature[g]]
                if _categorical_left(fval, threshold[g], cbase, cat_boundaries, cat_threshold) if kind & 1 \
                        else _numerical_left(fval, kind, threshold[g]):
                    vector |= np.int64(1) << np.int64(node)
            h_row = _slot(vector, row_capacity)
            while row_keys[h_row] != -1 and row_keys[h_row] != vector:
                h_row = (h_row + 1) & (row_capacity - 1)
            if row_keys[h_row] == vector:  # this tree's additions as an earlier row made them
                entry = row_slots[h_row]
                j = row_start[entry]
                end = j + row_len[entry]
                while j < end:  # a feature's additions at once, in their order: the same sums
                    f = row_feature[j]
                    total = out[r, f]
                    while j < end and row_feature[j] == f:
                        total += row_value[j]
                        j += 1
                    out[r, f] = total
                r += 1
                continue
        # Recorded for the rows that decide as this one, if the fixed room allows.
        record = by_vector and (state[2] + 1) * 2 <= row_capacity and state[2] < len(row_start)
        recorded = state[3]
        stack_node[0] = 0
        stack_bits[0] = 0
        stack_depth[0] = 0
        sp = 1  # entries on the stack
        while sp > 0:
            sp -= 1
            node = stack_node[sp]
            bits = stack_bits[sp]
            d = stack_depth[sp]
            path_nodes[d] = node
            if node >= 0:
                g = base + node
                if by_vector:
                    goes_left = ((vector >> np.int64(node)) & 1) == 1
                else:
                    kind = decision_type[g]
                    fval = x[r, split_feature[g]]
                    goes_left = _categorical_left(fval, threshold[g], cbase, cat_boundaries, cat_threshold) \
                        if kind & 1 else _numerical_left(fval, kind, threshold[g])
                # the hot child popped first, then the cold one (LightGBM's recursion order)
                stack_node[sp] = right[g] if goes_left else left[g]
                stack_bits[sp] = bits << 1
                stack_depth[sp] = d + 1
                stack_node[sp + 1] = left[g] if goes_left else right[g]
                stack_bits[sp + 1] = (bits << 1) | 1
                stack_depth[sp + 1] = d + 1
                sp += 2
                continue
            key = (bits << leaf_bits) | (lbase + ~node)
            h = _slot(key, capacity)
            while keys[h] != -1 and keys[h] != key:
                h = (h + 1) & (capacity - 1)
            if keys[h] == -1:  # a new pattern of this leaf: its additions, as LightGBM makes them
                for k in range(d):  # the path's nodes are the stack's last ancestors (DFS order)
                    path_hot[k] = ((bits >> (d - 1 - k)) & 1) == 1
                n = _leaf_additions(path_nodes, path_hot, d, base, node, left, right, split_feature,
                                    internal_count, leaf_count, leaf_value, lbase, feature, zero, one,
                                    pweight, tmp_feature, tmp_value)
                add_start[used] = added
                add_len[used] = n
                for j in range(n):
                    add_feature[added + j] = tmp_feature[j]
                    add_value[added + j] = tmp_value[j]
                added += n
                keys[h] = key
                slots[h] = used
                touched[used] = h
                used += 1
            entry = slots[h]
            first = add_start[entry]
            n = add_len[entry]
            if record and (recorded + n > len(row_feature) or recorded + n - state[3] > len(sort_feature)):
                record = False
            for j in range(first, first + n):
                out[r, add_feature[j]] += add_value[j]
                if record:
                    row_feature[recorded] = add_feature[j]
                    row_value[recorded] = add_value[j]
                    recorded += 1
        if record:
            # Grouped by feature, each feature's additions kept in their order (a stable counting
            # sort): a feature's sum is then the same sequence of additions, made in one register.
            first = state[3]
            group[:] = 0
            for j in range(first, recorded):
                group[row_feature[j] + 1] += 1
            for f in range(n_features):
                group[f + 1] += group[f]
            for j in range(first, recorded):
                f = row_feature[j]
                sort_feature[group[f]] = f
                sort_value[group[f]] = row_value[j]
                group[f] += 1
            for j in range(recorded - first):
                row_feature[first + j] = sort_feature[j]
                row_value[first + j] = sort_value[j]
            entry = state[2]
            row_keys[h_row] = vector
            row_slots[h_row] = entry
            row_touched[entry] = h_row
            row_start[entry] = state[3]
            row_len[entry] = recorded - state[3]
            state[2] = entry + 1
            state[3] = recorded
        r += 1
    state[0] = used
    state[1] = added
    return r


@njit(cache=True, nogil=True)
def contributions(x, out, node_start, leaf_start, num_leaves, cat_start, split_feature, threshold, decision_type,
                  left, right, internal_count, leaf_value, leaf_count, cat_boundaries, cat_threshold,
                  leaf_bits):
    """GBDT::PredictContrib for every row of `x` into `out` (zeros, n_features + 1 columns)."""
    n_features = out.shape[1] - 1
    n_trees = len(num_leaves)
    max_nodes = 1
    for t in range(n_trees):
        max_nodes = max(max_nodes, num_leaves[t])
    expected = np.zeros(n_trees)
    for t in range(n_trees):  # Tree::ExpectedValue
        lo = leaf_start[t]
        if num_leaves[t] == 1:
            expected[t] = leaf_value[lo]
            continue
        total_count = np.float64(internal_count[node_start[t]])
        value = 0.0
        for i in range(num_leaves[t]):
            value += (leaf_count[lo + i] / total_count) * leaf_value[lo + i]
        expected[t] = value
    # The memo of one tree: open addressing on the pattern's key (`touched`: the slots in use),
    # each entry's additions in `add_*`; [patterns, additions] in `state`.
    capacity = 1 << 12
    keys = np.full(capacity, -1, dtype=np.int64)
    slots = np.zeros(capacity, dtype=np.int64)
    touched = np.zeros(capacity, dtype=np.int64)
    add_start = np.zeros(capacity, dtype=np.int64)
    add_len = np.zeros(capacity, dtype=np.int64)
    add_feature = np.zeros(capacity * 4, dtype=np.int64)
    add_value = np.zeros(capacity * 4, dtype=np.float64)
    state = np.zeros(4, dtype=np.int64)  # [patterns, additions, row vectors, their additions]
    # The memo of whole decision vectors (`_tree_rows`), fixed: at most `row_entries` vectors a tree.
    row_entries = min(max(x.shape[0], 1), 1 << 13)
    row_capacity = 1 << 4
    while row_capacity < 2 * row_entries:
        row_capacity *= 2
    row_keys = np.full(row_capacity, -1, dtype=np.int64)
    row_slots = np.zeros(row_capacity, dtype=np.int64)
    row_touched = np.zeros(row_entries, dtype=np.int64)
    row_start = np.zeros(row_entries, dtype=np.int64)
    row_len = np.zeros(row_entries, dtype=np.int64)
    row_feature = np.zeros(1 << 18, dtype=np.int64)
    row_value = np.zeros(1 << 18, dtype=np.float64)
    group = np.zeros(n_features + 1, dtype=np.int64)
    sort_feature = np.zeros(max_nodes * (n_features + 1), dtype=np.int64)
    sort_value = np.zeros(max_nodes * (n_features + 1))
    # Scratch: the DFS stack (node, its path's hot/cold bits, its depth), a path and its state.
    stack_node = np.zeros(2 * max_nodes + 2, dtype=np.int64)
    stack_bits = np.zeros(2 * max_nodes + 2, dtype=np.int64)
    stack_depth = np.zeros(2 * max_nodes + 2, dtype=np.int64)
    path_nodes = np.zeros(max_nodes + 2, dtype=np.int64)
    path_hot = np.zeros(max_nodes + 2, dtype=np.bool_)
    feature = np.zeros(max_nodes + 3, dtype=np.int64)
    zero = np.zeros(max_nodes + 3)
    one = np.zeros(max_nodes + 3)
    pweight = np.zeros(max_nodes + 3)
    tmp_feature = np.zeros(max_nodes + 3, dtype=np.int64)
    tmp_value = np.zeros(max_nodes + 3)
    # Tree after tree, each row's additions of a tree after the previous tree's (LightGBM's order
    # per row); the memo is the tree's own, so it stays small and in cache.
    for t in range(n_trees):
        for j in range(state[0]):
            keys[touched[j]] = -1
        for j in range(state[2]):
            row_keys[row_touched[j]] = -1
        state[:] = 0
        out[:, n_features] += expected[t]
        if num_leaves[t] <= 1:
            continue
        r = 0
        while r < x.shape[0]:
            r = _tree_rows(t, r, x, out, node_start, leaf_start, num_leaves, cat_start, split_feature, threshold,
                           decision_type, left, right, internal_count, leaf_value, leaf_count, cat_boundaries,
                           cat_threshold, leaf_bits, keys, slots, touched, add_start, add_len, add_feature, add_value,
                           state, stack_node, stack_bits, stack_depth, path_nodes, path_hot, feature, zero, one,
                           pweight, tmp_feature, tmp_value, row_keys, row_slots, row_touched, row_start, row_len,
                           row_feature, row_value, group, sort_feature, sort_value)
            if r == x.shape[0]:
                break
            # The memo is full for a row: twice the room, the patterns kept.
            used = state[0]
            need = (used + num_leaves[t]) * 2
            if capacity < need:
                old_keys, old_touched = keys, touched
                while capacity < need:
                    capacity *= 2
                keys = np.full(capacity, -1, dtype=np.int64)
                slots = np.zeros(capacity, dtype=np.int64)
                touched = np.zeros(capacity, dtype=np.int64)
                for j in range(used):  # entry j sat in slot old_touched[j]
                    key = old_keys[old_touched[j]]
                    h = _slot(key, capacity)
                    while keys[h] != -1:
                        h = (h + 1) & (capacity - 1)
                    keys[h] = key
                    slots[h] = j
                    touched[j] = h
            if used + num_leaves[t] > len(add_start):
                add_start = np.concatenate((add_start, np.zeros(len(add_start) + num_leaves[t], dtype=np.int64)))
                add_len = np.concatenate((add_len, np.zeros(len(add_len) + num_leaves[t], dtype=np.int64)))
            if state[1] + num_leaves[t] * (n_features + 1) > len(add_feature):
                grow = len(add_feature) + num_leaves[t] * (n_features + 1)
                add_feature = np.concatenate((add_feature, np.zeros(grow, dtype=np.int64)))
                add_value = np.concatenate((add_value, np.zeros(grow)))
    return 0
