// Storage benchmarks that need a whole process: recovery time and memory per queued message.
//
//   dotnet run -c Release --project bench/Gateway.StorageBench -- [messages=1000000] [payloadBytes=100] [queues=1] [one|fanout]
//
// 1. Fills a fresh SQLite store with N persistent messages through the engine (batched journal tickets): each to one
//    of the queues in turn (one), or each to every queue through a fanout exchange (fanout). Reports the fill rate and
//    the CPU the journal writer's thread used per message (Linux: /proc/self/task/*/stat), with the file's rows.
// 2. Closes it, reopens it in a fresh broker and times Recover() (what a restart does before /readyz turns ready).
// 3. Reports the managed heap growth per recovered message (after a full GC), i.e. what one queued message costs
//    in memory beyond its payload.
// Prints RESULT|label|metric|value|unit lines like ../shared/anchors/rabbitmq.
using System.Diagnostics;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Exchanges;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Broker.Topology;
using Gateway.Storage;
using Microsoft.Data.Sqlite;

var count = args.Length > 0 ? int.Parse(args[0]) : 1_000_000;
var payloadBytes = args.Length > 1 ? int.Parse(args[1]) : 100;
var queueCount = args.Length > 2 ? int.Parse(args[2]) : 1;
var fanout = args.Length > 3 && args[3] == "fanout";
var dataPath = Path.Combine(Path.GetTempPath(), "gateway-storage-bench", Guid.NewGuid().ToString("N"));
var options = new StorageOptions { DataPath = dataPath, Synchronous = SynchronousMode.Full };
var label = $"recovery_{count}x{payloadBytes}B";
var persistent = new MessageProperties { DeliveryMode = 2 };

try
{
    // Fill.
    var fill = Stopwatch.StartNew();
    await using (var store = SqliteStore.Open(options))
    {
        var broker = new MessageBroker(new BrokerOptions { LeaseScanInterval = null }, store);
        broker.Recover();
        var vhost = broker.GetVhost(MessageBroker.DefaultVhost)!;
        for (var q = 0; q < queueCount; q++) vhost.DeclareQueue(new QueueDefinition($"q{q}"));
        if (fanout)
        {
            vhost.DeclareExchange(new ExchangeDefinition("fan", ExchangeType.Fanout));
            for (var q = 0; q < queueCount; q++) vhost.Bind(new Binding("fan", $"q{q}", BindingDestinationType.Queue, "", null));
        }
        var writerCpu = WriterCpu();
        var processCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var started = Stopwatch.GetTimestamp();
        const int batch = 10_000;
        for (var done = 0; done < count; done += batch)
        {
            var ticket = new JournalTicket();
            for (var i = done; i < Math.Min(count, done + batch); i++)
            {
                var body = new byte[payloadBytes];
                BitConverter.TryWriteBytes(body, i);
                vhost.PublishUnconfirmed(fanout ? "fan" : "", new Message("", $"q{i % queueCount}", persistent, body), ticket);
            }
            ticket.Release();
            await ticket.Committed;
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        var writer = WriterCpu() - writerCpu;
        var process = Process.GetCurrentProcess().TotalProcessorTime - processCpu;
        var shape = fanout ? $"fanout{queueCount}" : "one_queue";
        Console.WriteLine($"# journal: {count:N0} messages ({shape}) in {elapsed.TotalSeconds:F2} s; writer thread {writer.TotalSeconds:F2} s CPU, process {process.TotalSeconds:F2} s CPU");
        Console.WriteLine($"RESULT|journal_{shape}_{payloadBytes}B|msg_per_s|{count / elapsed.TotalSeconds:F1}|msg/s");
        Console.WriteLine($"RESULT|journal_{shape}_{payloadBytes}B|writer_cpu_us_per_msg|{writer.TotalMicroseconds / count:F2}|us/msg");
        Console.WriteLine($"RESULT|journal_{shape}_{payloadBytes}B|process_cpu_us_per_msg|{process.TotalMicroseconds / count:F2}|us/msg");
    }
    using (var file = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataPath, options.FileName), Pooling = false }.ToString()))
    {
        file.Open();
        using var rows = file.CreateCommand();
        rows.CommandText = "SELECT (SELECT COUNT(*) FROM messages), (SELECT COUNT(*) FROM queue_messages)";
        using var reader = rows.ExecuteReader();
        reader.Read();
        Console.WriteLine($"# file: {reader.GetInt64(0):N0} rows in messages, {reader.GetInt64(1):N0} in queue_messages");
    }
    Console.WriteLine($"# filled {count:N0} persistent {payloadBytes}-byte messages in {fill.Elapsed.TotalSeconds:F1} s ({count / fill.Elapsed.TotalSeconds:N0} msg/s through the journal)");
    Console.WriteLine($"RESULT|journal_fill_persistent_{payloadBytes}B|msg_per_s|{count / fill.Elapsed.TotalSeconds:F1}|msg/s");

    // Recover.
    GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
    var recovery = Stopwatch.StartNew();
    await using var reopened = SqliteStore.Open(options);
    var recovered = new MessageBroker(new BrokerOptions { LeaseScanInterval = null }, reopened);
    var progress = recovered.Recover(p => Console.WriteLine($"# recovery: {p.Messages:N0} messages, {p.Elapsed.TotalSeconds:F1} s"), every: 250_000);
    recovery.Stop();
    var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
    var ready = recovered.GetVhost(MessageBroker.DefaultVhost)!.ListQueues().Sum(q => q.MessagesReady);
    if (ready != count) throw new InvalidOperationException($"recovered {ready} messages, expected {count}");
    var perMessage = (heapAfter - heapBefore) / (double)count;
    Console.WriteLine($"# recovered {progress.Messages:N0} messages in {recovery.Elapsed.TotalSeconds:F2} s; heap +{(heapAfter - heapBefore) / 1048576.0:F0} MiB");
    Console.WriteLine($"RESULT|{label}|seconds|{recovery.Elapsed.TotalSeconds:F3}|s");
    Console.WriteLine($"RESULT|{label}|msg_per_s|{count / recovery.Elapsed.TotalSeconds:F1}|msg/s");
    Console.WriteLine($"RESULT|memory_{count}x{payloadBytes}B|managed_heap_bytes_per_msg|{perMessage:F1}|B/msg");
    Console.WriteLine($"RESULT|memory_{count}x{payloadBytes}B|overhead_beyond_payload_bytes_per_msg|{perMessage - payloadBytes:F1}|B/msg");
    GC.KeepAlive(recovered);
}
finally
{
    try { Directory.Delete(dataPath, recursive: true); } catch (IOException) { }
}

// CPU time of the journal writer's thread ("Gateway journal writer", 15 characters of it in /proc), zero elsewhere.
static TimeSpan WriterCpu()
{
    if (!Directory.Exists("/proc/self/task")) return TimeSpan.Zero;
    foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
    {
        try
        {
            if (File.ReadAllText(Path.Combine(task, "comm")).Trim() != "Gateway journal") continue;
            var stat = File.ReadAllText(Path.Combine(task, "stat"));
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // utime and stime are fields 14 and 15 of stat (12 and 13 after the name), in clock ticks (100 a second).
            return TimeSpan.FromSeconds((long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0);
        }
        catch (IOException)
        {
        }
    }
    return TimeSpan.Zero;
}
