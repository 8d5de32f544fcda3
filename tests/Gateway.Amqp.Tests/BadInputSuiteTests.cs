using RabbitMQ.Client;
using System.Text;
using Gateway.Amqp.Protocol;
using Gateway.Server.Tests;

namespace Gateway.Amqp.Tests;

/// <summary>
/// The listener's bad-input suite: 1,200 generated malformed frame sequences (random bytes, mutated and truncated
/// valid frames, random frame types, channels and method ids, oversized frames, fuzzed field tables, wrong protocol
/// headers, garbage during the handshake, and the named violations), each on its own connection. Every one must be
/// answered with the spec's connection or channel error or a clean close — never 541 (a server fault), never a
/// connection left hanging — and the gateway must serve a well-behaved client afterwards.
/// </summary>
public sealed class BadInputSuiteTests(AmqpGateway gateway) : IClassFixture<AmqpGateway>
{
    private const int Cases = 1200;
    private static readonly HashSet<ushort> ConnectionCodes = [403, 501, 502, 503, 504, 505, 530, 540];
    private static readonly HashSet<ushort> ChannelCodes = [403, 404, 405, 406];

    private static readonly string[] Violations =
    [
        "oversized frame", "bad frame-end", "unknown frame type", "heartbeat on a channel", "truncated method", "bad field type", "unknown method",
        "unknown class", "method on a closed channel", "channel above channel-max", "channel opened twice", "header without publish",
        "body without header", "method inside content", "start-ok after open", "immediate publish", "prefetch size",
    ];

    private static readonly byte[] ClientClose = RawAmqp.Method(0, MethodId.ConnectionClose, w =>
    {
        w.WriteShort(200);
        w.WriteShortStr("done");
        w.WriteShort(0);
        w.WriteShort(0);
    });

    // Well-formed frames the mutations start from.
    private static IEnumerable<byte[]> Valid(Random random) => (random.Next(5)) switch
    {
        0 => [BadFrames.QueueDeclare(1, "fuzz-" + random.Next(10))],
        1 => [BadFrames.Publish(1), BadFrames.Header(1, 3), RawAmqp.Frame(3, 1, [1, 2, 3])],
        2 => [RawAmqp.Method(1, MethodId.BasicGet, w => { w.WriteShort(0); w.WriteShortStr("fuzz-1"); w.WriteBits(true); })],
        3 => [RawAmqp.Method(1, MethodId.ExchangeDeclare, w =>
        {
            w.WriteShort(0);
            w.WriteShortStr("fx");
            w.WriteShortStr("topic");
            w.WriteBits(false, false, true, false, false);
            w.WriteTable(new Dictionary<string, object?> { ["a"] = 1, ["b"] = "x" });
        })],
        _ => [RawAmqp.Method(1, MethodId.BasicAck, w => { w.WriteLongLong((ulong)random.Next(3)); w.WriteBits(random.Next(2) == 0); })],
    };

    private static byte[] Concat(IEnumerable<byte[]> parts) => parts.SelectMany(p => p).ToArray();

    private static byte[] RandomBytes(Random random, int max)
    {
        var bytes = new byte[random.Next(1, max)];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>The bytes of one case, and whether it is sent before the handshake (instead of start-ok) or as the protocol header.</summary>
    private static (string Kind, byte[] Bytes) Generate(int index)
    {
        var random = new Random(index);
        switch (index % 10)
        {
            case 0: return ("random bytes", RandomBytes(random, 300));
            case 1:
            {
                var bytes = Concat(Valid(random));
                for (var flips = random.Next(1, 4); flips > 0; flips--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return ("mutated frames", bytes);
            }
            case 2:
            {
                var bytes = Concat(Valid(random));
                return ("truncated frames", bytes[..random.Next(1, bytes.Length)]);
            }
            case 3:
            {
                var type = (byte)random.Next(256);
                return ("random frame type and channel", RawAmqp.Frame(type, (ushort)random.Next(5), RandomBytes(random, 50)));
            }
            case 4:
            {
                var frame = RawAmqp.Frame(1, 1, new byte[4]);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(3), (uint)random.Next(131_073, int.MaxValue));
                return ("oversized frame", frame);
            }
            case 5:
            {
                var payload = RandomBytes(random, 64);
                if (payload.Length < 4) payload = [.. payload, 0, 0, 0, 0];
                payload[0] = 0;
                payload[1] = (byte)new[] { 10, 20, 40, 50, 60, 85, 90, random.Next(256) }[random.Next(8)];
                return ("random method and arguments", RawAmqp.Frame(1, (ushort)random.Next(3), payload));
            }
            case 6:
            {
                var header = RandomBytes(random, 9);
                if (header.AsSpan().SequenceEqual(RawAmqp.Header)) header[7] ^= 1;
                return ("wrong protocol header", header);
            }
            case 7: return ("garbage during the handshake", random.Next(2) == 0 ? RandomBytes(random, 100) : Concat(Valid(random)));
            case 8: return ("named violation", Concat(BadFrames.Violation(Violations[random.Next(Violations.Length)])));
            default:
            {
                var table = RandomBytes(random, 40);
                var framed = new byte[table.Length + 4];
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(framed, (uint)(random.Next(3) == 0 ? random.Next() : table.Length));
                table.CopyTo(framed, 4);
                return ("fuzzed field table", BadFrames.QueueDeclare(1, "t", framed));
            }
        }
    }

    private sealed record Outcome(string Kind, List<ushort> ConnectionCloses, List<ushort> ChannelCloses, bool Ended, bool HeaderAnswered)
    {
        /// <summary>Why the case could not run (its handshake failed), or null.</summary>
        public string? Error { get; init; }
    }

    private static async Task<Outcome> RunAsync(int index, int port)
    {
        var (kind, bytes) = Generate(index);
        if (kind == "wrong protocol header")
        {
            await using var raw = await RawAmqp.ConnectAsync(port);
            await raw.TrySendAsync(bytes);
            raw.ShutdownSend();
            var answer = await raw.ReadToEndAsync();
            return new Outcome(kind, [], [], answer is not null, answer is not null && (answer.Length == 0 || answer.AsSpan().SequenceEqual(RawAmqp.Header)));
        }
        RawAmqp connection;
        if (kind == "garbage during the handshake")
        {
            connection = await RawAmqp.ConnectAsync(port);
            await connection.SendAsync(RawAmqp.Header);
            await connection.ExpectAsync(MethodId.ConnectionStart);
        }
        else connection = await RawAmqp.OpenAsync(port, AmqpGateway.AdminUser, SecuredGateway.AdminKey);
        await using (connection)
        {
            await connection.TrySendAsync(bytes);
            await connection.TrySendAsync(ClientClose);
            connection.ShutdownSend();
            var received = await connection.ReadToEndAsync();
            if (received is null) return new Outcome(kind, [], [], Ended: false, HeaderAnswered: true);
            var frames = RawAmqp.SplitFrames(received).OfType<RawFrame>().ToList();
            return new Outcome(kind,
                [.. frames.Where(f => f.Method == MethodId.ConnectionClose).Select(f => f.ReplyCode)],
                [.. frames.Where(f => f.Method == MethodId.ChannelClose).Select(f => f.ReplyCode)], Ended: true, HeaderAnswered: true);
        }
    }

    [Fact]
    public async Task Every_malformed_sequence_is_answered_by_the_specs_error_or_a_clean_close_and_the_gateway_keeps_serving()
    {
        // The server starts here, once: the parallel cases below must not race to start it.
        var port = gateway.AmqpPort;
        var outcomes = new Outcome[Cases];
        await Parallel.ForEachAsync(Enumerable.Range(0, Cases), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (i, _) =>
            {
                try
                {
                    outcomes[i] = await RunAsync(i, port);
                }
                catch (Exception e) when (e is Xunit.Sdk.XunitException or IOException or System.Net.Sockets.SocketException or OperationCanceledException)
                {
                    outcomes[i] = new Outcome(Generate(i).Kind, [], [], Ended: false, HeaderAnswered: true) { Error = e.Message };
                }
            });

        var failures = new List<string>();
        for (var i = 0; i < Cases; i++)
        {
            var o = outcomes[i];
            if (o.Error is not null) failures.Add($"case {i} ({o.Kind}): {o.Error}");
            else if (!o.Ended) failures.Add($"case {i} ({o.Kind}): the server neither answered nor closed within {RawAmqp.Timeout.TotalSeconds} s");
            if (!o.HeaderAnswered) failures.Add($"case {i} ({o.Kind}): a wrong protocol header was not answered with AMQP 0-9-1's");
            failures.AddRange(o.ConnectionCloses.Where(c => !ConnectionCodes.Contains(c)).Select(c => $"case {i} ({o.Kind}): connection.close {c}"));
            failures.AddRange(o.ChannelCloses.Where(c => !ChannelCodes.Contains(c)).Select(c => $"case {i} ({o.Kind}): channel.close {c}"));
        }
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures.Take(30)));
        // The suite means something: most cases met a connection error, and every kind of code came up.
        var codes = outcomes.SelectMany(o => o.ConnectionCloses).ToHashSet();
        Assert.True(outcomes.Count(o => o.ConnectionCloses.Count > 0) > Cases / 2, "Fewer than half the malformed sequences met a connection error.");
        Assert.Superset(new HashSet<ushort> { 501, 502, 503, 504, 505, 540 }, codes);

        // Still serving: a RabbitMQ.Client round trip, and no connection of the suite left open.
        await using var s = await gateway.SessionAsync();
        await s.Channel.BasicPublishAsync("", s.Queue, "after the storm"u8.ToArray());
        var got = await s.Channel.BasicGetAsync(s.Queue, autoAck: true);
        Assert.Equal("after the storm", Encoding.UTF8.GetString(got!.Body.Span));
        await AmqpAssert.EventuallyAsync(() => Task.FromResult(gateway.Service<Gateway.Server.Amqp.AmqpListenerService>().Listener!.ConnectionCount == 1),
            "every connection of the suite to be closed");
    }
}
