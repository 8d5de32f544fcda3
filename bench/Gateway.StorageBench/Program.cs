// Storage benchmarks that need a whole process: recovery time and memory per queued message.
//
//   dotnet run -c Release --project bench/Gateway.StorageBench -- [messages=1000000] [payloadBytes=100] [queues=1]
//
// 1. Fills a fresh SQLite store with N persistent messages through the engine (batched journal tickets).
// 2. Closes it, reopens it in a fresh broker and times Recover() (what a restart does before /readyz turns ready).
// 3. Reports the managed heap growth per recovered message (after a full GC), i.e. what one queued message costs
//    in memory beyond its payload.
// Prints RESULT|label|metric|value|unit lines like ../shared/anchors/rabbitmq.
using System.Diagnostics;
using Gateway.Broker;
using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Storage;

var count = args.Length > 0 ? int.Parse(args[0]) : 1_000_000;
var payloadBytes = args.Length > 1 ? int.Parse(args[1]) : 100;
var queueCount = args.Length > 2 ? int.Parse(args[2]) : 1;
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
        const int batch = 10_000;
        for (var done = 0; done < count; done += batch)
        {
            var ticket = new JournalTicket();
            for (var i = done; i < Math.Min(count, done + batch); i++)
            {
                var body = new byte[payloadBytes];
                BitConverter.TryWriteBytes(body, i);
                vhost.PublishUnconfirmed("", new Message("", $"q{i % queueCount}", persistent, body), ticket);
            }
            ticket.Release();
            await ticket.Committed;
        }
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
