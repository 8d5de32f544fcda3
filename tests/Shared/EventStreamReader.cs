using System.Text;
using System.Text.Json;

namespace Gateway.Testing;

/// <summary>One Server-Sent Event: its <c>id</c> (null when the event set none), name and JSON data.</summary>
public sealed record ServerSentEvent(string? Id, string Name, JsonElement Data);

/// <summary>
/// Reads a <c>text/event-stream</c> body event by event, as an EventSource does (the WHATWG parsing rules for the
/// fields it uses: <c>id</c>, <c>event</c>, <c>data</c> lines joined by newlines, comment lines starting with a
/// colon). Comment lines are counted, so that heartbeats can be observed.
/// </summary>
public sealed class EventStreamReader(Stream body) : IDisposable
{
    private readonly StreamReader _reader = new(body, Encoding.UTF8);
    private int _comments;

    /// <summary>How many comment lines (heartbeats, the opening comment) have been read so far.</summary>
    public int Comments => Volatile.Read(ref _comments);

    /// <summary>The comment lines read so far, without their colon, oldest first.</summary>
    public List<string> CommentLines { get; } = [];

    /// <summary>The next event, skipping comments; fails when the stream ends or nothing comes within <paramref name="timeout"/>.</summary>
    public async Task<ServerSentEvent> NextAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        string? id = null, name = null;
        var data = new StringBuilder();
        var hasData = false;
        while (true)
        {
            var line = await ReadLineAsync(deadline, timeout);
            if (line.Length == 0)
            {
                // A blank line dispatches the event; one without data is dropped, as an EventSource does.
                if (hasData) return new ServerSentEvent(id, name ?? "message", JsonDocument.Parse(data.ToString()).RootElement.Clone());
                id = name = null;
                continue;
            }
            if (line[0] == ':')
            {
                NoteComment(line);
                continue;
            }
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            switch (field)
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "data":
                    if (hasData) data.Append('\n');
                    data.Append(value);
                    hasData = true;
                    break;
            }
        }
    }

    /// <summary>Reads until <paramref name="count"/> comment lines have been seen in all, failing after <paramref name="timeout"/> or at an event.</summary>
    public async Task WaitForCommentsAsync(int count, TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (Comments < count)
        {
            var line = await ReadLineAsync(deadline, timeout);
            if (line.Length == 0) continue;
            if (line[0] != ':') throw new InvalidDataException($"Expected only comments, got the line '{line}'.");
            NoteComment(line);
        }
    }

    private async Task<string> ReadLineAsync(CancellationTokenSource deadline, TimeSpan timeout)
    {
        try
        {
            return await _reader.ReadLineAsync(deadline.Token) ?? throw new EndOfStreamException("The event stream ended.");
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            throw new TimeoutException($"The event stream sent nothing more within {timeout.TotalSeconds} s (comments so far: {Comments}).");
        }
    }

    private void NoteComment(string line)
    {
        CommentLines.Add(line[1..].TrimStart(' '));
        Interlocked.Increment(ref _comments);
    }

    public void Dispose() => _reader.Dispose();
}
