using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using TorchSharp;

namespace MoeQuant.Kernels.Tests;

internal static class TorchSetup
{
    // The tests run many tiny tensor operations; libtorch's OpenMP pool makes each of them wait for thread hand-offs
    // (about 40× slower on a 2-core machine). xunit runs test classes in parallel, which uses the cores instead.
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "Process-wide libtorch setting for the test host, set before any test runs.")]
    internal static void UseOneIntraOpThread()
    {
        torch.set_num_threads(1);
        KernelsPrecision.Configure();
    }
}
