using System.Globalization;
using MoeQuant.Model;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>Parses <c>--devices</c>: <c>cpu</c>, <c>cpu:3</c> (three logical CPU devices, so that multi-device plans
/// run anywhere), <c>0-7</c>, <c>0,2</c>, <c>0:2</c> (CUDA device 0 as two logical devices, so that multi-device plans run
/// on one GPU), or nothing for every CUDA device (the CPU when there is none).</summary>
public static class DeviceList
{
    /// <summary>Local device names ("cpu:0", "cuda:2", "cuda:0/1" for the second logical device on CUDA device 0), in order.</summary>
    /// <param name="text">The flag's value.</param>
    /// <param name="cudaDevices">How many CUDA devices this machine has (0 when no driver).</param>
    public static IReadOnlyList<string> Parse(string? text, int cudaDevices)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return cudaDevices > 0 ? Cuda(Enumerable.Range(0, cudaDevices), cudaDevices, "") : ["cpu:0"];
        }

        var spec = text.Trim();
        if (spec == "cpu")
        {
            return ["cpu:0"];
        }

        if (spec.StartsWith("cpu:", StringComparison.Ordinal))
        {
            return int.TryParse(spec[4..], NumberStyles.None, CultureInfo.InvariantCulture, out var count) && count is >= 1 and <= 64
                ? Enumerable.Range(0, count).Select(i => $"cpu:{i}").ToList()
                : throw new UserInputException($"--devices {spec}: cpu:N needs a count from 1 to 64");
        }

        if (spec.Split(':') is [var gpu, var split] && int.TryParse(gpu, NumberStyles.None, CultureInfo.InvariantCulture, out var ordinal))
        {
            return int.TryParse(split, NumberStyles.None, CultureInfo.InvariantCulture, out var parts) && parts is >= 1 and <= 16
                ? [.. Cuda([ordinal], cudaDevices, spec).SelectMany(d => Enumerable.Range(0, parts).Select(i => $"{d}/{i}"))]
                : throw new UserInputException($"--devices {spec}: N:k needs a count k from 1 to 16");
        }

        var ordinals = new List<int>();
        foreach (var part in spec.Split(',', StringSplitOptions.TrimEntries))
        {
            var range = part.Split('-', StringSplitOptions.TrimEntries);
            if (range.Length is < 1 or > 2 || !range.All(r => int.TryParse(r, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            {
                throw new UserInputException($"--devices {spec}: '{part}' is not a device; use cpu, cpu:N, 0-7, 0,2 or 0:2");
            }

            var (first, last) = (int.Parse(range[0], CultureInfo.InvariantCulture), int.Parse(range[^1], CultureInfo.InvariantCulture));
            if (last < first)
            {
                throw new UserInputException($"--devices {spec}: range '{part}' runs backwards");
            }

            ordinals.AddRange(Enumerable.Range(first, last - first + 1));
        }

        var duplicate = ordinals.GroupBy(o => o).FirstOrDefault(g => g.Count() > 1);
        return duplicate is null
            ? Cuda(ordinals, cudaDevices, spec)
            : throw new UserInputException($"--devices {spec}: device {duplicate.Key} is named twice");
    }

    private static List<string> Cuda(IEnumerable<int> ordinals, int cudaDevices, string spec)
    {
        var list = ordinals.ToList();
        var missing = list.FirstOrDefault(o => o >= cudaDevices, -1);
        if (missing >= 0)
        {
            var have = cudaDevices == 0 ? "this machine has no CUDA device; use --devices cpu" : $"this machine has CUDA devices 0-{cudaDevices - 1}";
            throw new UserInputException($"--devices {spec}: there is no CUDA device {missing} ({have})");
        }

        return list.Select(o => $"cuda:{o}").ToList();
    }
}
