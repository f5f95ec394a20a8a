using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Model.Export;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>The model a run quantizes, as far as the run's identity goes.</summary>
/// <param name="Name">Short name for the default save_dir, e.g. "DeepSeek-V3" or "tiny-deepseek-v3".</param>
/// <param name="Hash">Fingerprint of the checkpoint (config and tensor headers), stored in run.json; a resume against a
/// different model is refused.</param>
/// <param name="Folder">Where the checkpoint lies, stored in run.json for <c>moequant pack</c>; null for the built-in
/// tiny model, which is found wherever its cache is.</param>
public sealed record ModelIdentity(string Name, string Hash, string? Folder = null);

/// <summary>Builds the numerical side of a run from its settings; the seam where the real maths plugs in.</summary>
public interface IWorkloadFactory
{
    /// <summary>Reads just enough of the model to name and fingerprint it; throws <c>UserInputException</c> when the
    /// model is missing or not a DeepSeek-V3 checkpoint.</summary>
    ModelIdentity Describe(QuantizeSettings settings);

    /// <summary>Builds the workload, writing into <paramref name="layout"/>.</summary>
    ILayerWorkload Create(QuantizeSettings settings, RunLayout layout);

    /// <summary>Writes the loadable checkpoint of a finished run into its save_dir (replacing an earlier export), or
    /// returns null when this workload's state is not a model's (the test fakes).</summary>
    ExportResult? Export(QuantizeSettings settings, RunLayout layout) => null;
}

/// <summary>Every application setting of one run, bound and validated.</summary>
public sealed record QuantizeSettings(ModelOptions Model, CalibrationOptions Calibration, GptqSettings Gptq, RunOptions Run);
