// The ceiling for the HTTP publish benchmark: a minimal-API POST that reads nothing and answers 202.
// Measured in the same run as the gateway so that the ratio between them is meaningful.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
var app = builder.Build();
app.MapPost("/publish", () => Results.Accepted());
app.Run();
