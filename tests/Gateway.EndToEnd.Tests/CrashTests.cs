using System.Globalization;
using System.Text;

namespace Gateway.EndToEnd.Tests;

/// <summary>
/// kill -9 tests of the durability contract (../shared/DESIGN.md): a message whose publish was answered 2xx is never
/// lost, an ack answered 2xx never comes back, deliveries unacked at a crash come back with <c>redelivered = true</c>,
/// persistent messages survive in order. Each test runs its own server process on its own data folder, loads it,
/// kills it (SIGKILL) in the middle of the load, restarts it on the same folder and checks what came back.
/// </summary>
public sealed partial class CrashTests(ITestOutputHelper output)
{
    /// <summary>How long the load before the kill may take (it takes a few seconds).</summary>
    private static readonly TimeSpan LoadDeadline = TimeSpan.FromSeconds(60);

    /// <summary>How long the clients may take to notice the kill (their requests fail at once).</summary>
    private static readonly TimeSpan ClientsStopDeadline = TimeSpan.FromSeconds(30);

    /// <summary>Whether an exception is what a client sees when the server dies under it (or is unreachable).</summary>
    private static bool IsConnectionFailure(Exception e) => e is HttpRequestException or TaskCanceledException;

    /// <summary>Waits until <paramref name="threshold"/> is reached, failing early when the clients all stopped first.</summary>
    private static async Task WaitForThresholdAsync(Task threshold, Task clients, string what, IEnumerable<string> unexpected, GatewayProcess gateway)
    {
        try
        {
            await Task.WhenAny(threshold, clients).WaitAsync(LoadDeadline);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{what} not reached within {LoadDeadline.TotalSeconds:0} s.{Environment.NewLine}{Report(unexpected)}{gateway.RecentOutput()}");
        }
        if (!threshold.IsCompleted)
            Assert.Fail($"The clients stopped before {what} was reached.{Environment.NewLine}{Report(unexpected)}{gateway.RecentOutput()}");
    }

    private static async Task WaitForClientsAsync(Task clients, GatewayProcess gateway)
    {
        try
        {
            await clients.WaitAsync(ClientsStopDeadline);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"The clients were still running {ClientsStopDeadline.TotalSeconds:0} s after the kill.{Environment.NewLine}{gateway.RecentOutput()}");
        }
    }

    private async Task AssertQueueSurvivedAsync(GatewayProcess gateway, string queue)
    {
        var info = await gateway.Api.FindQueueAsync(queue);
        Assert.True(info is { Durable: true },
            $"Durable queue '{queue}' after the restart: {info?.ToString() ?? "missing"}.{Environment.NewLine}{gateway.RecentOutput()}");
        output.WriteLine($"[test] after the restart: {info}");
    }

    private static string Report(IEnumerable<string> problems, int most = 40)
    {
        var list = problems.ToList();
        if (list.Count == 0) return "";
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"{list.Count} problem(s):");
        foreach (var problem in list.Take(most)) text.Append("  - ").AppendLine(problem);
        if (list.Count > most) text.AppendLine(CultureInfo.InvariantCulture, $"  … and {list.Count - most} more");
        return text.ToString();
    }

    /// <summary>"a, b, c … (n in all)" for evidence lists.</summary>
    private static string Sample<T>(IReadOnlyCollection<T> items, int most = 20) =>
        string.Join(", ", items.Take(most)) + (items.Count > most ? $" … ({items.Count} in all)" : $" ({items.Count} in all)");
}
