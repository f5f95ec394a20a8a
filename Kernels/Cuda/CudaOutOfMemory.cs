namespace MoeQuant.Kernels.Cuda;

/// <summary>
/// Tells whether a failure of device work was the device running out of memory. Our own driver and cuBLAS calls throw
/// <see cref="GpuOutOfMemoryException"/>; libtorch's allocator and CUDA runtime reach us through TorchSharp as an
/// untyped <c>ExternalException</c> whose only mark is its text ("CUDA out of memory. Tried to allocate ...", or
/// "CUDA error: out of memory" from a kernel launch), so those are recognised by message.
/// </summary>
public static class CudaOutOfMemory
{
    private static readonly string[] LibtorchMessages = ["CUDA out of memory", "CUDA error: out of memory", "CUBLAS_STATUS_ALLOC_FAILED"];

    /// <summary>True when <paramref name="error"/>, or any exception inside it, says the device ran out of memory.</summary>
    public static bool Is(Exception error) => error switch
    {
        CudaException { ErrorName: "CUDA_ERROR_OUT_OF_MEMORY" } or GpuOutOfMemoryException => true,
        AggregateException aggregate => aggregate.InnerExceptions.Any(Is),
        _ when LibtorchMessages.Any(m => error.Message.Contains(m, StringComparison.Ordinal)) => true,
        _ => error.InnerException is { } inner && Is(inner),
    };
}
