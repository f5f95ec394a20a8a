using MoeQuant.Kernels.Native;
using TorchSharp;

namespace MoeQuant.Kernels.Cuda;

/// <summary>One compiled kernel function, launched on the legacy default stream (stream 0), which is libtorch's default stream too, so launches are ordered with torch ops without extra synchronisation.</summary>
public sealed class CudaKernel
{
    private const int MaxDynamicSharedMemoryAttribute = 8; // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    private readonly IntPtr _function;
    private int _sharedMemoryOptIn;

    internal CudaKernel(int device, string name, IntPtr function)
    {
        Device = device;
        Name = name;
        _function = function;
    }

    /// <summary>Device the kernel was loaded on.</summary>
    public int Device { get; }

    /// <summary>The extern "C" function name.</summary>
    public string Name { get; }

    /// <summary>Launches with the given grid, block and dynamic shared memory; each argument is a pointer, int or float as the kernel declares.</summary>
    public unsafe void Launch((uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, int sharedBytes, params KernelArgument[] arguments)
    {
        // Above 48 KiB of dynamic shared memory a kernel must opt in once (Hopper allows up to 227 KiB per block).
        if (sharedBytes > 48 * 1024 && sharedBytes > _sharedMemoryOptIn)
        {
            CudaDriver.Check(NativeMethods.cuFuncSetAttribute(_function, MaxDynamicSharedMemoryAttribute, sharedBytes), $"cuFuncSetAttribute({Name})");
            _sharedMemoryOptIn = sharedBytes;
        }

        var values = stackalloc long[arguments.Length];
        var pointers = stackalloc void*[arguments.Length];
        for (var i = 0; i < arguments.Length; i++)
        {
            values[i] = arguments[i].Bits;
            pointers[i] = &values[i];
        }

        CudaDriver.Check(
            NativeMethods.cuLaunchKernel(_function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)sharedBytes, IntPtr.Zero, pointers, null),
            $"cuLaunchKernel({Name})");
    }
}

/// <summary>A kernel argument passed by value: 8 bytes holding a device pointer, an int or a float (little-endian, so narrower values sit in the low bytes the kernel reads).</summary>
public readonly record struct KernelArgument(long Bits)
{
    public static implicit operator KernelArgument(int value) => new(value);

    public static implicit operator KernelArgument(long value) => new(value);

    public static implicit operator KernelArgument(float value) => new(BitConverter.SingleToInt32Bits(value));

    public static implicit operator KernelArgument(IntPtr address) => new(address.ToInt64());

    /// <summary>The device address of a contiguous CUDA tensor's first element.</summary>
    public static KernelArgument Of(torch.Tensor tensor) => DevicePointer.Of(tensor);
}
