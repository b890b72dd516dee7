"""Mirror of ``csrc/geomedian/prefetch.hpp``: asking the memory system for bytes ahead of use.

One request per 64-byte line, as LLVM's ``llvm.prefetch`` (a read, kept in every cache
level): on x86-64 a ``prefetcht0``, elsewhere what the target has, or nothing. The
requests change no value.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .jit_options import KERNEL

LINE_BYTES = 64


@intrinsic
def prefetch(typingctx, a, i):
    """Ask for the line holding element ``i`` of the contiguous array ``a``."""

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        byte = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read (0), every cache level (locality 3), data (1)
        address = builder.bitcast(builder.gep(data, [args[1]]), byte)
        builder.call(fn, [address, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(a, types.intp), codegen


@njit(**KERNEL)
def prefetch_span(a, start, count):
    """Ask for elements ``start .. start + count`` of the flat array ``a``, line by line."""
    step = max(1, LINE_BYTES // a.itemsize)
    for k in range(start, start + count, step):
        prefetch(a, k)
