using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Gateway.Broker.Durability;
using Gateway.Broker.Messages;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Gateway.Storage.Journal;

/// <summary>
/// The single writer of the message journal. Callers enqueue operations (never blocking); one loop drains whatever
/// has accumulated and commits it in one transaction (group commit), then completes the waiters of that batch. While
/// a commit is in flight, new operations gather for the next one, so the commit rate adapts to the load.
/// </summary>
/// <remarks>
/// Two shapes of stored message. A message that one durable queue holds is one row: its queue entry, with the content
/// inline (message_id 0); inserting it is one INSERT and removing it one DELETE. A message that several durable queues
/// hold, or one larger than <see cref="MaxInlineBytes"/>, is stored once in messages, with one entry per queue pointing
/// at it. The writer picks the shape when it writes the message's first entry, from how many durable queues hold it by
/// then; a second entry that comes later (a fan-out whose inserts fell into two batches) first moves the content from
/// the inline entry into a messages row, so a shared message never has an inline entry beside it.
/// <para>
/// Inside a batch, an entry inserted and removed again (a message acked before its insert committed) cancels out:
/// neither statement runs, and a message none of whose entries survive is never written. Error tiers: a failed
/// batch is rolled back and every waiter in it fails with <see cref="StorageException"/> (publishes answer 503,
/// nothing is confirmed); the loop goes on with the next batch, so a full disk or a locked file is survivable.
/// </para>
/// </remarks>
internal sealed partial class JournalWriter : IMessageJournal, IAsyncDisposable
{
    private const int MaxBatch = 16_384;

    // The largest message (body, encoded properties, exchange and routing key) written inline in its queue entry; a
    // larger one takes the two-row shape even in one queue. queue_messages is a WITHOUT ROWID table, whose rows stay on
    // their b-tree page only up to ~1,000 bytes (4 KB pages); a longer row spills to an overflow page of its own, and
    // a 1 KB body inline cost 2.4x the writer CPU of the two rows (bench/README.md, "The publish path (issue 16)").
    private const int MaxInlineBytes = 640;

    private enum OpKind : byte { Insert, Delivered, Remove, Delay, BeginAtomic, EndAtomic, Barrier }

    // Time1/Time2: an insert's expiry and not-before times, a delay's not-before time (UTC ticks).
    [StructLayout(LayoutKind.Auto)]
    private readonly record struct Op(OpKind Kind, Message? Message, long QueueId, long Sequence, int Count, bool Last, JournalTicket? Ticket,
        long Time1 = 0, long Time2 = 0);

    private readonly Channel<Op> _ops = Channel.CreateUnbounded<Op>(new UnboundedChannelOptions { SingleReader = true, AllowSynchronousContinuations = false });
    private readonly SqliteConnection _connection;
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Op> _batch = new(1024);
    private readonly HashSet<(long, long)> _insertedInBatch = [];
    private readonly HashSet<(long, long)> _cancelled = [];
    // Where the messages written or cleared in this batch were stored before it: restored when the batch rolls back.
    private readonly List<(Message Message, long Id, long Sequence)> _undo = [];
    private readonly SqliteCommand _insertMessage, _insertEntry, _insertInline, _share, _updateDelivery, _updateNotBefore, _deleteEntry, _deleteMessage;
    private readonly SqliteCommand[] _commands;
    private long _lastMessageId;
    private int _openGroups;
    private readonly Histogram<int>? _batchSize;
    private readonly Histogram<double>? _commitDuration, _syncDuration;
    private readonly Counter<long>? _commitFailures;

    /// <param name="connection">The journal's own connection, used by the writer thread only.</param>
    /// <param name="logger">Where commit failures are logged.</param>
    /// <param name="meter">Where commit metrics go (batch size, commit and sync time, failures); none when null.</param>
    public JournalWriter(SqliteConnection connection, ILogger logger, Meter? meter = null)
    {
        if (meter is not null)
        {
            _batchSize = meter.CreateHistogram<int>("journal.commit.operations", "{operation}",
                "Journal operations (inserts, delivery counts, removals) committed in one transaction: the group-commit batch size.");
            _commitDuration = meter.CreateHistogram<double>("journal.commit.duration", "s",
                "Time to write and commit one journal batch, from the transaction's start to the end of its COMMIT.");
            _syncDuration = meter.CreateHistogram<double>("journal.sync.duration", "s",
                "Time in SQLite's COMMIT of a journal batch: appending it to the WAL and, with Synchronous=Full, the fsync.");
            _commitFailures = meter.CreateCounter<long>("journal.commit.failures", "{batch}",
                "Journal batches that could not be committed (their publishes were answered 503).");
        }
        _connection = connection;
        _logger = logger;
        using (var max = connection.CreateCommand())
        {
            max.CommandText = "SELECT COALESCE(MAX(id), 0) FROM messages";
            _lastMessageId = (long)max.ExecuteScalar()!;
        }
        _insertMessage = Prepare("INSERT INTO messages (id, exchange, routing_key, properties, body) VALUES ($id, $exchange, $key, $properties, $body)",
            "$id", "$exchange", "$key", "$properties", "$body");
        _insertEntry = Prepare("INSERT INTO queue_messages (queue_id, sequence, message_id, delivery_count, expires_at, not_before) VALUES ($q, $s, $m, 0, $e, $n)",
            "$q", "$s", "$m", "$e", "$n");
        _insertInline = Prepare("""
            INSERT INTO queue_messages (queue_id, sequence, message_id, delivery_count, expires_at, not_before, exchange, routing_key, properties, body)
            VALUES ($q, $s, 0, 0, $e, $n, $exchange, $key, $properties, $body)
            """, "$q", "$s", "$e", "$n", "$exchange", "$key", "$properties", "$body");
        _share = Prepare("""
            UPDATE queue_messages SET message_id = $m, exchange = NULL, routing_key = NULL, properties = NULL, body = NULL
            WHERE queue_id = $q AND sequence = $s
            """, "$m", "$q", "$s");
        _updateDelivery = Prepare("UPDATE queue_messages SET delivery_count = $c WHERE queue_id = $q AND sequence = $s", "$c", "$q", "$s");
        _updateNotBefore = Prepare("UPDATE queue_messages SET not_before = $n WHERE queue_id = $q AND sequence = $s", "$n", "$q", "$s");
        _deleteEntry = Prepare("DELETE FROM queue_messages WHERE queue_id = $q AND sequence = $s", "$q", "$s");
        _deleteMessage = Prepare("DELETE FROM messages WHERE id = $id", "$id");
        _commands = [_insertMessage, _insertEntry, _insertInline, _share, _updateDelivery, _updateNotBefore, _deleteEntry, _deleteMessage];
        // A dedicated thread: each commit blocks on fsync, which must not hold one of the few thread-pool threads
        // that serve requests (on 2 cores that starved the very publishers whose operations it was waiting for).
        _thread = new Thread(Run) { IsBackground = true, Name = "Gateway journal writer" };
        _thread.Start();
    }

    /// <summary>True while the writer thread runs (until disposal).</summary>
    public bool IsRunning => !_stopped.Task.IsCompleted;

    /// <summary>Why the last batch failed, or null when the last batch committed.</summary>
    public string? LastFailure => _lastFailure;
    private volatile string? _lastFailure;

    /// <summary>Operations committed so far, and batches (for metrics and benchmarks).</summary>
    public long CommittedOperations { get; private set; }
    public long CommittedBatches { get; private set; }

    public void Insert(Message message, long queueId, long sequence, long expiresAt, long notBefore, JournalTicket? ticket) =>
        Enqueue(new Op(OpKind.Insert, message, queueId, sequence, 0, false, ticket, expiresAt, notBefore));

    public void Delay(long queueId, long sequence, long notBefore) =>
        Enqueue(new Op(OpKind.Delay, null, queueId, sequence, 0, false, null, notBefore));

    public void BeginAtomic() => Enqueue(new Op(OpKind.BeginAtomic, null, 0, 0, 0, false, null));

    public void EndAtomic() => Enqueue(new Op(OpKind.EndAtomic, null, 0, 0, 0, false, null));

    public void Delivered(long queueId, long sequence, int deliveryCount) =>
        Enqueue(new Op(OpKind.Delivered, null, queueId, sequence, deliveryCount, false, null));

    public void Remove(Message message, long queueId, long sequence, bool lastReference, JournalTicket? ticket) =>
        Enqueue(new Op(OpKind.Remove, message, queueId, sequence, 0, lastReference, ticket));

    public Task Barrier()
    {
        var ticket = new JournalTicket();
        ticket.Add();
        Enqueue(new Op(OpKind.Barrier, null, 0, 0, 0, false, ticket));
        ticket.Release();
        return ticket.Committed;
    }

    private void Enqueue(Op op)
    {
        if (!_ops.Writer.TryWrite(op))
            op.Ticket?.Fail(new StorageException("The journal is closed."));
    }

    private SqliteCommand Prepare(string sql, params string[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters) command.Parameters.Add(new SqliteParameter { ParameterName = name });
        command.Prepare();
        return command;
    }

    private void Run()
    {
        try
        {
            Loop();
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private void Loop()
    {
        var reader = _ops.Reader;
        var lastBatch = 0;
        long lastCommitTicks = 0;
        while (WaitForWork(reader))
        {
            _batch.Clear();
            Drain(reader);
            // Gathering: when several writers are active (the last batch held more than one operation), the clients
            // answered by the last commit are about to send their next operations. Waiting a fraction of a commit's
            // duration for them turns many small fsyncs into one large one; a lone writer never waits.
            if (lastBatch > 1 && _batch.Count < Math.Min(lastBatch, MaxBatch))
            {
                var deadline = Stopwatch.GetTimestamp() + Math.Min(lastCommitTicks / 2, Stopwatch.Frequency / 1000);
                while (_batch.Count < lastBatch && Stopwatch.GetTimestamp() < deadline)
                {
                    Thread.Yield();
                    Drain(reader);
                }
            }
            // An atomic group is never split: wait for the rest of it (its writer is enqueueing it right now).
            while (_openGroups > 0 && WaitForWork(reader)) Drain(reader);
            lastBatch = _batch.Count;
            var started = Stopwatch.GetTimestamp();
            Commit();
            lastCommitTicks = Stopwatch.GetTimestamp() - started;
        }
    }

    private static bool WaitForWork(ChannelReader<Op> reader)
    {
        var wait = reader.WaitToReadAsync();
        return wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    private void Drain(ChannelReader<Op> reader)
    {
        while ((_batch.Count < MaxBatch || _openGroups > 0) && reader.TryRead(out var op))
        {
            _batch.Add(op);
            if (op.Kind == OpKind.BeginAtomic) _openGroups++;
            else if (op.Kind == OpKind.EndAtomic) _openGroups--;
        }
    }

    private void Commit()
    {
        FindCancellations();
        Exception? failure = null;
        try
        {
            var started = Stopwatch.GetTimestamp();
            using var transaction = _connection.BeginTransaction();
            foreach (var command in _commands) command.Transaction = transaction;
            foreach (var op in _batch) Execute(op);
            var committing = Stopwatch.GetTimestamp();
            transaction.Commit();
            var committed = Stopwatch.GetTimestamp();
            CommittedOperations += _batch.Count;
            CommittedBatches++;
            _batchSize?.Record(_batch.Count);
            _commitDuration?.Record(Stopwatch.GetElapsedTime(started, committed).TotalSeconds);
            _syncDuration?.Record(Stopwatch.GetElapsedTime(committing, committed).TotalSeconds);
            _lastFailure = null;
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException or IOException)
        {
            failure = new StorageException("The message journal could not commit: " + e.Message, e);
            // Rolled back: every message is stored as it was before the batch (newest change undone first).
            for (var i = _undo.Count - 1; i >= 0; i--)
            {
                var (message, id, sequence) = _undo[i];
                message.JournalId = id;
                message.JournalSequence = sequence;
            }
            _commitFailures?.Add(1);
            _lastFailure = e.Message;
            LogCommitFailed(e, _batch.Count);
        }
        foreach (var op in _batch)
        {
            if (op.Ticket is null) continue;
            if (failure is null) op.Ticket.Release();
            else op.Ticket.Fail(failure);
        }
        _undo.Clear();
    }

    private void FindCancellations()
    {
        _insertedInBatch.Clear();
        _cancelled.Clear();
        var removes = false;
        foreach (var op in _batch) removes |= op.Kind == OpKind.Remove;
        if (!removes) return;
        foreach (var op in _batch)
        {
            if (op.Kind == OpKind.Insert) _insertedInBatch.Add((op.QueueId, op.Sequence));
            else if (op.Kind == OpKind.Remove && _insertedInBatch.Contains((op.QueueId, op.Sequence))) _cancelled.Add((op.QueueId, op.Sequence));
        }
    }

    private void Execute(in Op op)
    {
        switch (op.Kind)
        {
            case OpKind.Barrier:
                return; // nothing to write: its ticket is released with the batch's commit
            case OpKind.Insert:
                if (_cancelled.Count > 0 && _cancelled.Contains((op.QueueId, op.Sequence))) return;
                Insert(op);
                return;
            case OpKind.Delay:
                if (_cancelled.Count > 0 && _cancelled.Contains((op.QueueId, op.Sequence))) return;
                _updateNotBefore.Parameters[0].Value = op.Time1;
                _updateNotBefore.Parameters[1].Value = op.QueueId;
                _updateNotBefore.Parameters[2].Value = op.Sequence;
                _updateNotBefore.ExecuteNonQuery();
                return;
            case OpKind.BeginAtomic or OpKind.EndAtomic:
                return;
            case OpKind.Delivered:
                if (_cancelled.Count > 0 && _cancelled.Contains((op.QueueId, op.Sequence))) return;
                _updateDelivery.Parameters[0].Value = op.Count;
                _updateDelivery.Parameters[1].Value = op.QueueId;
                _updateDelivery.Parameters[2].Value = op.Sequence;
                _updateDelivery.ExecuteNonQuery();
                return;
            case OpKind.Remove:
                Remove(op);
                return;
        }
    }

    private void Insert(in Op op)
    {
        var message = op.Message!;
        if (message.JournalId <= 0)
        {
            var properties = FieldCodec.EncodeProperties(message.Properties);
            if (message.JournalId == 0 && Volatile.Read(ref message.DurableReferences) <= 1 && op.QueueId > 0
                && message.Body.Length + (properties?.Length ?? 0) + message.Exchange.Length + message.RoutingKey.Length <= MaxInlineBytes)
            {
                // The only durable queue holding it (so far): one row with the content inline.
                Remember(message);
                message.JournalId = -op.QueueId;
                message.JournalSequence = op.Sequence;
                var p = _insertInline.Parameters;
                p[0].Value = op.QueueId;
                p[1].Value = op.Sequence;
                p[2].Value = op.Time1;
                p[3].Value = op.Time2;
                p[4].Value = message.Exchange;
                p[5].Value = message.RoutingKey;
                p[6].Value = (object?)properties ?? DBNull.Value;
                p[7].Value = Bytes(message.Body);
                _insertInline.ExecuteNonQuery();
                return;
            }
            Remember(message);
            var inlineQueue = -message.JournalId;
            message.JournalId = ++_lastMessageId;
            var m = _insertMessage.Parameters;
            m[0].Value = message.JournalId;
            m[1].Value = message.Exchange;
            m[2].Value = message.RoutingKey;
            m[3].Value = (object?)properties ?? DBNull.Value;
            m[4].Value = Bytes(message.Body);
            _insertMessage.ExecuteNonQuery();
            if (inlineQueue != 0)
            {
                // A second queue took it after its first entry was written inline: that entry now points at the row.
                _share.Parameters[0].Value = message.JournalId;
                _share.Parameters[1].Value = inlineQueue;
                _share.Parameters[2].Value = message.JournalSequence;
                _share.ExecuteNonQuery();
            }
        }
        _insertEntry.Parameters[0].Value = op.QueueId;
        _insertEntry.Parameters[1].Value = op.Sequence;
        _insertEntry.Parameters[2].Value = message.JournalId;
        _insertEntry.Parameters[3].Value = op.Time1;
        _insertEntry.Parameters[4].Value = op.Time2;
        _insertEntry.ExecuteNonQuery();
    }

    private void Remove(in Op op)
    {
        if (_cancelled.Count == 0 || !_cancelled.Contains((op.QueueId, op.Sequence)))
        {
            _deleteEntry.Parameters[0].Value = op.QueueId;
            _deleteEntry.Parameters[1].Value = op.Sequence;
            _deleteEntry.ExecuteNonQuery();
        }
        var message = op.Message!;
        if (message.JournalId < 0)
        {
            // The inline entry went with the message's content; any other entry removed here was never written.
            if (message.JournalId != -op.QueueId || message.JournalSequence != op.Sequence) return;
            Remember(message);
            message.JournalId = 0;
        }
        else if (op.Last && message.JournalId != 0)
        {
            _deleteMessage.Parameters[0].Value = message.JournalId;
            _deleteMessage.ExecuteNonQuery();
            Remember(message);
            message.JournalId = 0;
        }
    }

    // Records where a message is stored before the batch changes it (see _undo).
    private void Remember(Message message) => _undo.Add((message, message.JournalId, message.JournalSequence));

    private static byte[] Bytes(ReadOnlyMemory<byte> body) =>
        MemoryMarshal.TryGetArray(body, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : body.ToArray();

    public async ValueTask DisposeAsync()
    {
        _ops.Writer.TryComplete();
        await _stopped.Task.ConfigureAwait(false);
        foreach (var command in _commands) command.Dispose();
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Journal commit of {Operations} operations failed; their publishes are not confirmed")]
    private partial void LogCommitFailed(Exception exception, int operations);
}
