using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace MoeQuant.Coordinator.Hosting;

/// <summary>
/// Structured logs as JSON lines in save_dir/logs/, one file per process start. The save_dir is known only once the
/// options are validated, after logging exists, so lines logged before <see cref="Open"/> are kept and written then.
/// </summary>
internal sealed class JsonFileLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _early = new();
    private readonly Lock _lock = new();
    private StreamWriter? _writer;

    public void Open(string logsDir)
    {
        Directory.CreateDirectory(logsDir);
        var path = Path.Combine(logsDir, $"moequant-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.jsonl");
        lock (_lock)
        {
            _writer = new StreamWriter(path, append: true) { AutoFlush = true };
            while (_early.TryDequeue(out var line))
            {
                _writer.WriteLine(line);
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
        lock (_lock)
        {
            _writer?.Dispose();
            _writer = null;
        }
    }

    private void Write(string line)
    {
        lock (_lock)
        {
            if (_writer is null)
            {
                _early.Enqueue(line);
            }
            else
            {
                _writer.WriteLine(line);
            }
        }
    }

    private sealed class Logger(JsonFileLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            // Message templates keep their named values as fields, so that the logs can be queried, not just read.
            var fields = state as IEnumerable<KeyValuePair<string, object?>> ?? [];
            var entry = new Dictionary<string, object?>
            {
                ["time"] = DateTimeOffset.UtcNow.ToString("O"),
                ["level"] = logLevel.ToString(),
                ["category"] = category,
                ["message"] = formatter(state, exception),
            };
            foreach (var (key, value) in fields.Where(f => f.Key != "{OriginalFormat}"))
            {
                entry[key] = value?.ToString();
            }

            if (exception is not null)
            {
                entry["exception"] = exception.ToString();
            }

            provider.Write(JsonSerializer.Serialize(entry));
        }
    }
}
