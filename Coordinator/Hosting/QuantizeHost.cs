using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MoeQuant.Coordinator.Actors;
using MoeQuant.Coordinator.Journal;
using MoeQuant.Coordinator.Progress;
using MoeQuant.Coordinator.Report;
using MoeQuant.GpuNode.Actors;
using MoeQuant.GpuNode.Execution;
using MoeQuant.Messages;
using MoeQuant.Model;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>
/// The hosted console of <c>moequant quantize</c>: configuration (JSON files, <c>MoeQuant__...</c> environment, then
/// flags), validated options, and an Akka.Cluster of one member on 127.0.0.1 with the coordinator as a cluster singleton
/// and one GpuNode per local device.
/// </summary>
internal static class QuantizeHost
{
    /// <param name="flags">Configuration keys from the command line, e.g. "MoeQuant:Gptq:Bits" → "4".</param>
    /// <param name="configFiles">--config files: *.json for application settings, anything else is HOCON.</param>
    /// <param name="factory">Builds the workload.</param>
    /// <param name="live">Draw the live display instead of writing log lines to the console.</param>
    /// <param name="fileLog">The save_dir/logs/ writer, to be opened once save_dir is known.</param>
    public static IHost Build(IReadOnlyDictionary<string, string?> flags, IReadOnlyList<string> configFiles, IWorkloadFactory factory, bool live, out JsonFileLoggerProvider fileLog)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = Environment.CurrentDirectory });
        foreach (var json in configFiles.Where(IsJson))
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(json), optional: false);
        }

        builder.Configuration.AddEnvironmentVariables().AddInMemoryCollection(flags);
        AddOptions<ModelOptions>(builder.Services, ModelOptions.Section);
        AddOptions<CalibrationOptions>(builder.Services, CalibrationOptions.Section);
        AddOptions<GptqSettings>(builder.Services, GptqSettings.Section);
        AddOptions<RunOptions>(builder.Services, RunOptions.Section);
        AddOptions<ClusterSettings>(builder.Services, ClusterSettings.Section);
        var validator = new QuantizeOptionsValidator();
        builder.Services.AddSingleton<IValidateOptions<GptqSettings>>(validator)
            .AddSingleton<IValidateOptions<ModelOptions>>(validator)
            .AddSingleton<IValidateOptions<RunOptions>>(validator)
            .AddSingleton<IValidateOptions<ClusterSettings>>(validator)
            .AddSingleton(sp => RunSetup.Create(sp, factory))
            .AddSingleton<RunCompletion>()
            .AddHostedService<KernelCompileLog>()
            .AddSingleton(sp => new RunJournal(sp.GetRequiredService<RunSetup>().Layout))
            .AddSingleton(sp => Progress(sp.GetRequiredService<RunSetup>(), sp.GetRequiredService<ILoggerFactory>()));

        fileLog = new JsonFileLoggerProvider();
        builder.Logging.AddProvider(fileLog).SetMinimumLevel(LogLevel.Information).AddFilter("Akka", LogLevel.Warning);
        if (!live)
        {
            builder.Logging.AddSimpleConsole(o => (o.SingleLine, o.TimestampFormat) = (true, "HH:mm:ss "));
        }

        builder.Services.AddAkka("moequant", (akka, sp) => ConfigureAkka(akka, sp, configFiles.Where(f => !IsJson(f)).ToList()));
        return builder.Build();
    }

    /// <summary>Runs the options' validation now, so that bad input is reported before anything starts.</summary>
    public static RunSetup Prepare(IHost host)
    {
        try
        {
            host.Services.GetRequiredService<IStartupValidator>().Validate();
        }
        catch (OptionsValidationException e)
        {
            throw new UserInputException(string.Join("; ", e.Failures));
        }

        return host.Services.GetRequiredService<RunSetup>();
    }

    private static void ConfigureAkka(AkkaConfigurationBuilder akka, IServiceProvider sp, IReadOnlyList<string> hoconFiles)
    {
        var setup = sp.GetRequiredService<RunSetup>();
        akka.AddHoconFile(Path.Combine(AppContext.BaseDirectory, "hocon", "moequant.conf"), HoconAddMode.Append);
        foreach (var file in hoconFiles)
        {
            // Prepended files take precedence; each later --config file overrides the ones before it.
            akka.AddHoconFile(Path.GetFullPath(file), HoconAddMode.Prepend);
        }

        var run = setup.Settings.Run;
        var waveBytes = (long)(run.HessianMemoryGb * (1L << 30));
        var coordinator = CoordinatorActor.Props(
            new CoordinatorSettings(setup.Workload.Shape, setup.StartLayer, setup.Executors.Count, run.MaxLayerAttempts, RunJournal.WaveBytes(setup.Layout, waveBytes), waveBytes),
            sp.GetRequiredService<RunJournal>(),
            new QualityReport(setup.Layout),
            sp.GetRequiredService<RunProgress>(),
            sp.GetRequiredService<RunCompletion>());
        var node = new NodeSettings(setup.Settings.Gptq.RelDamp, run.DampingGrowth, run.MaxQuantizeBatch, setup.Settings.Calibration.OffloadActivations, TimeSpan.FromSeconds(1));
        akka.WithCustomSerializer("moequant", [typeof(IMoeQuantMessage)], system => new MoeQuantSerializer(system))
            .ConfigureLoggers(loggers =>
            {
                loggers.ClearLoggers();
                loggers.AddLoggerFactory();
            })
            .WithRemoting(new RemoteOptions { HostName = setup.Cluster.Host, Port = setup.Cluster.Port })
            .WithClustering(new ClusterOptions { Roles = [Roles.Coordinator, Roles.GpuNode] })
            .WithSingleton<CoordinatorActor>("coordinator", coordinator, new ClusterSingletonOptions { Role = Roles.Coordinator }, createProxyToo: true)
            .WithActors((system, registry) =>
            {
                var proxy = registry.Get<CoordinatorActor>();
                system.ActorOf(GpuNodeSupervisor.Props(setup.Executors, setup.Workload, new BulkStore(), node, proxy), "devices");
            })
            .AddStartup((system, _) =>
            {
                // The default run is a cluster of one: the member joins itself, on whatever free port remoting got.
                var cluster = Akka.Cluster.Cluster.Get(system);
                cluster.Join(cluster.SelfAddress);
            });
    }

    private static RunProgress Progress(RunSetup setup, ILoggerFactory logs) =>
        new(setup.Workload.Shape.Layers, setup.StartLayer, setup.Workload.Shape.TotalTokens, logs.CreateLogger<RunProgress>());

    private static void AddOptions<T>(IServiceCollection services, string section)
        where T : class => services.AddOptions<T>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();

    private static bool IsJson(string file) => file.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
}
