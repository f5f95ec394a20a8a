using System.Runtime.InteropServices;
using MoeQuant.Kernels.Cuda;

namespace MoeQuant.Kernels.Tests.Cuda;

// TorchSharp throws ExternalException for every libtorch error, and the runtime OutOfMemoryException for host memory:
// the tests must make exactly those types.
#pragma warning disable CA2201

/// <summary>Out-of-memory failures are told apart from other device failures, whichever layer threw them.</summary>
public sealed class CudaOutOfMemoryTests
{
    public static TheoryData<Exception> OutOfMemory => new(
        new GpuOutOfMemoryException("cuMemAlloc", 2, "CUDA_ERROR_OUT_OF_MEMORY"),
        new CudaException("cuMemAllocAsync", 2, "CUDA_ERROR_OUT_OF_MEMORY"),
        // TorchSharp's forms of libtorch's allocator and runtime errors.
        new ExternalException("CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.11 GiB of which 1.12 GiB is free."),
        new ExternalException("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
        new ExternalException("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"),
        new AggregateException(new InvalidOperationException("other"), new ExternalException("CUDA out of memory. Tried to allocate 20.00 MiB")),
        new InvalidOperationException("calibration failed", new GpuOutOfMemoryException("cuMemAlloc", 2, "CUDA_ERROR_OUT_OF_MEMORY")));

    public static TheoryData<Exception> Other => new(
        new CudaException("cuLaunchKernel", 719, "CUDA_ERROR_LAUNCH_FAILED"),
        new GpuContextCorruptedException("cuLaunchKernel", 700, "CUDA_ERROR_ILLEGAL_ADDRESS"),
        new ExternalException("shape '[2, 3]' is invalid for input of size 5"),
        new OutOfMemoryException("host memory"),
        new IOException("disk full"));

    [Theory]
    [MemberData(nameof(OutOfMemory))]
    public void Should_recognise_device_out_of_memory(Exception error) => Assert.True(CudaOutOfMemory.Is(error));

    [Theory]
    [MemberData(nameof(Other))]
    public void Should_not_take_other_failures_for_out_of_memory(Exception error) => Assert.False(CudaOutOfMemory.Is(error));
}
