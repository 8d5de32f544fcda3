// The ceiling for the HTTP publish benchmark: a minimal-API POST that reads nothing and answers 202.
// Measured in the same run as the gateway so that the ratio between them is meaningful.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapPost("/publish", () => Results.Accepted());
// The gateway's publish path answering what the gateway answers, for the latency scenario's floor
// (Gateway.LoadClient latency-floor): the same requests, nothing behind them.
app.MapPost("/api/vhosts/default/exchanges/amq.default/publish", () => Results.Ok(new Answer(true, 1, false, false)));
app.Run();

internal sealed record Answer(bool Routed, int Queues, bool Returned, bool Rejected);
