using System.Security.Cryptography;
using System.Text;
using MoeQuant.GpuNode.Durability;
using MoeQuant.GpuNode.Workload;
using MoeQuant.Model;
using MoeQuant.Model.Config;
using MoeQuant.Model.TinyModel;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>
/// Stands in for the real workload (DeepSeek-V3 forward with capture, GPTQ engine, state writer), which is written on
/// other branches: it names and fingerprints the model from its config so that flags, devices and save_dir are all
/// checked, then says that this build cannot run the maths. When the pieces are merged, Program.cs passes the real
/// factory and this class is deleted.
/// </summary>
internal sealed class PendingWorkloadFactory : IWorkloadFactory
{
    public ModelIdentity Describe(QuantizeSettings settings)
    {
        if (settings.Model.Path is not { Length: > 0 } path)
        {
            return new ModelIdentity("tiny-deepseek-v3", Hash(TinyModelConfig.Json));
        }

        var dir = new DirectoryInfo(path);
        if (!dir.Exists)
        {
            throw new UserInputException($"--model-name-or-path {path}: folder does not exist");
        }

        var configPath = Path.Combine(dir.FullName, "config.json");
        DeepseekV3Config.Load(configPath);
        return new ModelIdentity(dir.Name, Hash(File.ReadAllText(configPath)));
    }

    public ILayerWorkload Create(QuantizeSettings settings, RunLayout layout) => throw new UserInputException(
        "this build cannot quantize yet: the DeepSeek-V3 forward and the GPTQ engine are not yet wired into the pipeline");

    private static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
