namespace MoeQuant.Kernels.Cuda;

/// <summary>A CUDA driver or NVRTC call failed; <see cref="ErrorName"/> is CUDA's own name, e.g. CUDA_ERROR_OUT_OF_MEMORY.</summary>
public class CudaException : Exception
{
    public CudaException(string call, int code, string errorName)
        : base($"{call} failed: {errorName} ({code})")
    {
        Call = call;
        Code = code;
        ErrorName = errorName;
    }

    /// <summary>The API function that failed.</summary>
    public string Call { get; }

    /// <summary>The numeric CUresult / nvrtcResult.</summary>
    public int Code { get; }

    /// <summary>CUDA's symbolic name of <see cref="Code"/>.</summary>
    public string ErrorName { get; }
}

/// <summary>CUDA_ERROR_OUT_OF_MEMORY: supervisors split the batch and retry.</summary>
public sealed class GpuOutOfMemoryException(string call, int code, string errorName) : CudaException(call, code, errorName);

/// <summary>A sticky error (illegal address, launch failure): the context is unusable and the process must restart.</summary>
public sealed class GpuContextCorruptedException(string call, int code, string errorName) : CudaException(call, code, errorName);
