"""The fast path's design from its plan (``formula.categorical``): the dense block and the categorical blocks.

A plan is a list of steps, each saying where some design columns come from:

* ("intercept", position): the column of 1s;
* ("numeric", position, (value, ...)): a numeric column, or the product of several;
* ("learned", positions, term): the columns of a numeric transform term, computed by formulaic on the
  full data (``formula.numeric_terms``);
* ("block", interaction?, positions, ((column, reduced, levels), ...), (value, ...)): a categorical main
  effect or one scoped term of an interaction, as integer codes (the categorical factors' combined level)
  and, for ``g:x``, the product of its numeric values.

A value is ("column", name) for a data column or ("learned", (term, column)) for a column of a learned
term.  A design of at most ``settings.dense_cells`` cells is written as a dense matrix; a larger one is a
``CategoricalDesign`` whose dense block holds the numeric columns, the products and the learned columns
(its intercept's 1s are implicit when the compiled kernels serve it: no array of the data's length holds
them; ``implicit_intercept``), and whose blocks hold the codes.
"""

from __future__ import annotations

import numpy as np

from glmformula import settings
from glmformula.design import kernels
from glmformula.design.categorical import CategoricalBlock, CategoricalDesign
from glmformula.design.dense import DenseDesign
from glmformula.formula.columns import FrameColumns

#: Frames of at most this many rows have their numeric columns copied one by one (pandas' selection costs
#: more there than the copy).
_SMALL_FRAME = 20_000


class Values:
    """The numbers behind the design's numeric columns: a data column by name, or a column of a transform
    term learned on the full data (``learned``: term -> its columns; of the rows ``rows`` only, for the
    sample check)."""

    def __init__(self, data: FrameColumns, learned: dict[str, np.ndarray] | None, rows: np.ndarray | None = None):
        self.data, self.n_rows = data, data.n_rows
        self.learned = {} if learned is None else learned
        self.rows = rows

    def __call__(self, value: tuple) -> np.ndarray:
        kind, source = value
        if kind == "column":
            return self.data[source]
        return self.term(source[0])[:, source[1]]

    def term(self, name: str) -> np.ndarray:
        """The (rows, k) columns of a learned term."""
        columns = self.learned[name]
        return columns if self.rows is None else columns[self.rows]

    def release(self, name: str) -> None:
        """Forget a learned term's columns (copied into the dense block; the block values are copies too)."""
        if self.rows is None:
            self.learned.pop(name, None)


def implicit_intercept(stored_columns: int = 0) -> bool:
    """Whether a ``CategoricalDesign`` built now leaves its intercept's 1s implicit: when the compiled row
    passes serve it (they add the 1s' terms themselves).  numpy's path would write them out at every read,
    so without the kernels (or beyond the width they take) the dense block stores them."""
    return kernels.in_use() and stored_columns + 1 <= kernels.MAX_DENSE


def assemble(plan: list[tuple], values: Values, codes: dict, names: list[str]):
    """(design, numeric data columns copied) from the plan; None when a product of columns is not finite."""
    data, n = values.data, values.n_rows
    intercept_position = None
    numeric_columns, numeric_positions, products, blocks, learned = [], [], [], [], []
    for step in plan:
        if step[0] == "intercept":
            intercept_position = step[1]
        elif step[0] == "numeric" and len(step[2]) == 1 and step[2][0][0] == "column":
            numeric_columns.append(step[2][0][1])
            numeric_positions.append(step[1])
        elif step[0] == "numeric":
            product = _product(values, step[2])
            if product is None:
                return None
            products.append((step[1], product))
        elif step[0] == "learned":
            learned.append(step[1:])
        else:
            _, _, positions, factors, numeric = step
            block_values = _product(values, numeric) if numeric else None
            if numeric and block_values is None:
                return None
            blocks.append(CategoricalBlock(_block_codes(codes, factors, positions), positions, block_values))
    copied = numeric_columns + [name for step in plan if step[0] == "block" for kind, name in step[4]
                                if kind == "column"]
    if n * len(names) <= settings.current().dense_cells:  # small: the dense matrix itself, written directly
        matrix = np.zeros((n, len(names)))
        if intercept_position is not None:
            matrix[:, intercept_position] = 1.0
        _copy_numeric(data, numeric_columns, matrix, numeric_positions)
        for position, product in products:
            matrix[:, position] = product
        for positions, term in learned:
            matrix[:, positions] = values.term(term)
        for block in blocks:
            block.write_indicators(matrix)
        return DenseDesign(matrix, names), copied
    stored_columns = len(numeric_columns) + len(products) + sum(len(positions) for positions, _ in learned)
    if intercept_position is not None and implicit_intercept(stored_columns):
        dense, positions = _dense_block(values, None, numeric_columns, numeric_positions, products, learned)
        return CategoricalDesign(dense, positions, blocks, names, intercept=intercept_position), copied
    dense, positions = _dense_block(values, intercept_position, numeric_columns, numeric_positions, products,
                                    learned)
    return CategoricalDesign(dense, positions, blocks, names), copied


def _dense_block(values: Values, intercept_position: int | None, numeric_columns: list[str],
                 numeric_positions: list[int], products: list[tuple], learned: list[tuple]):
    """(the dense block, the design column of each of its columns): the 1s (unless ``intercept_position`` is
    None: no intercept, or an implicit one), the data's numeric columns, the products, then the columns of
    each learned transform term.  When the learned terms were written into one buffer with these other
    columns left free before them (``numeric_terms.learn``), that buffer is the dense block; else the learned
    columns are copied into a new one (each term's released once copied)."""
    data, n = values.data, values.n_rows
    positions = ([] if intercept_position is None else [intercept_position]) + numeric_positions
    first_learned = len(positions) + len(products)
    buffer, layout = _learned_layout(values, first_learned, learned)
    width = first_learned + sum(len(term_positions) for term_positions, _ in learned)
    dense = np.empty((n, width)) if buffer is None else buffer
    start = 0 if intercept_position is None else 1
    if kernels.in_use():  # the 1s and the columns in one pass over the rows
        sources = [np.ascontiguousarray(data[column], dtype=float) for column in numeric_columns]  # views if float
        kernels.gather_columns(sources, list(range(start, len(positions))), None if start == 0 else 0, dense)
    else:
        if start:
            dense[:, 0] = 1.0
        _copy_numeric(data, numeric_columns, dense, slice(start, len(positions)))
    for offset, (position, product) in enumerate(products):
        dense[:, len(positions) + offset] = product
        positions.append(position)
    learned_positions = np.empty(width - first_learned, dtype=int)
    for term_positions, term, first in layout:
        if buffer is None:
            dense[:, first:first + len(term_positions)] = values.term(term)
        values.release(term)
        learned_positions[first - first_learned:first - first_learned + len(term_positions)] = term_positions
    return dense, np.array(positions + learned_positions.tolist(), dtype=int)


def _learned_layout(values: Values, first_learned: int, learned: list[tuple]) -> tuple[np.ndarray | None, list]:
    """(the buffer holding the learned terms when it can be the dense block as it is, else None; each learned
    term's (design positions, term, first column in the dense block)).  The buffer serves when its free
    columns are exactly the dense block's other columns and it holds exactly the dense block's learned terms
    (a transform factor of an interaction is a block's values instead), each of its width."""
    learned_values = values.learned
    buffer = getattr(learned_values, "buffer", None)
    if buffer is not None and values.rows is None and learned_values.reserve == first_learned:
        found = {term: (first, stop) for term, first, stop in learned_values.layout}
        if len(found) == len(learned) and all(term in found and found[term][1] - found[term][0] == len(positions)
                                              for positions, term in learned):
            return buffer, [(positions, term, found[term][0]) for positions, term in learned]
    layout, first = [], first_learned
    for positions, term in learned:
        layout.append((positions, term, first))
        first += len(positions)
    return None, layout


def _block_codes(codes: dict, factors: tuple, positions: np.ndarray) -> np.ndarray:
    """int32 codes of a block's rows: the column within the block, -1 for none (see the module doc)."""
    if len(factors) == 1:  # a main effect: the reference level (code 0) becomes -1; missing codes (-1) stay -1
        name, reduced, _ = factors[0]
        if not reduced:
            return codes[name]
        block_codes = codes[name] - 1
        np.maximum(block_codes, -1, out=block_codes)
        return block_codes
    cells = int(np.prod([levels - int(reduced) for _, reduced, levels in factors]))
    dtype = np.int32 if cells < np.iinfo(np.int32).max else np.int64  # int32: no wider temporaries
    combined = np.zeros(len(codes[factors[0][0]]), dtype=dtype)
    valid = np.ones(len(combined), dtype=bool)
    stride = 1
    for name, reduced, levels in factors:
        index = codes[name].astype(dtype)  # the factor's codes stay as they are
        index -= int(reduced)
        valid &= index >= 0
        index *= stride
        combined += index
        stride *= levels - int(reduced)
    del index
    np.putmask(combined, ~valid, -1)
    return combined.astype(np.int32, copy=False)


def _product(values: Values, factors: tuple) -> np.ndarray | None:
    """The product of numeric columns (``_Values`` references) as a new float array; None when it is not
    finite (an overflow, or a missing value: formulaic's path then reports it)."""
    product = np.array(values(factors[0]), dtype=float)
    for factor in factors[1:]:
        product *= values(factor)
    with np.errstate(over="ignore", invalid="ignore"):
        return product if np.isfinite(product.sum()) else None


def _copy_numeric(data: FrameColumns, columns: list[str], out: np.ndarray, positions: list[int] | slice) -> None:
    """Copy the numeric ``columns`` into the columns ``positions`` of ``out``."""
    if not columns:
        return
    if data.n_rows <= _SMALL_FRAME:  # a few rows: pandas' selection costs more than copying column by column
        indices = range(out.shape[1])[positions] if isinstance(positions, slice) else positions
        for column, position in zip(columns, indices):
            out[:, position] = data[column]
    else:  # one copy of the columns' pandas block: far faster than column-by-column strided writes
        out[:, positions] = data.frame.iloc[:, [data.position(column) for column in columns]].to_numpy(dtype=float)
