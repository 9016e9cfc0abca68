// jvm-ticker: a realtime bot in a jar (RUNTIME scala3 runs `java -jar bot.jar`). Reads its tick
// count from $STATE_DIR/jvm-ticker.json, adds one per tick, writes it back (temp file, then an
// atomic move), prints one `_metric` JSON line per tick on stdout (epoch-ms timestamp) and JSON
// log lines on stderr. SIGTERM runs the shutdown hook, which ends the loop and waits for its last
// log line (the JVM then exits 143, 128+SIGTERM).
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class Main {
  static volatile boolean running = true;

  static void log(String level, String message, long tick) {
    System.err.println("{\"level\":\"" + level + "\",\"message\":\"" + message + "\",\"tick\":" + tick
        + ",\"timestamp\":" + System.currentTimeMillis() + "}");
  }

  static long number(String text, String key, long fallback) {
    Matcher m = Pattern.compile("\"" + key + "\"\\s*:\\s*(\\d+)").matcher(text == null ? "" : text);
    return m.find() ? Long.parseLong(m.group(1)) : fallback;
  }

  public static void main(String[] args) throws Exception {
    String dir = System.getenv().getOrDefault("STATE_DIR", "/state/.the0-state");
    Path state = Paths.get(dir, "jvm-ticker.json");
    Files.createDirectories(state.getParent());
    long ticks = Files.exists(state) ? number(Files.readString(state), "ticks", 0) : 0;
    long interval = Math.max(1, number(System.getenv("BOT_CONFIG"), "interval_ms", 1000));
    log("info", ticks > 0 ? "resuming" : "first start", ticks);
    Thread main = Thread.currentThread();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      running = false;
      main.interrupt();
      try { main.join(5000); } catch (InterruptedException e) { /* exiting anyway */ }
    }));
    while (running) {
      ticks++;
      Path tmp = Paths.get(dir, "jvm-ticker.json.tmp");
      Files.writeString(tmp, "{\"ticks\":" + ticks + "}");
      Files.move(tmp, state, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      System.out.println("{\"_metric\":\"tick\",\"value\":" + ticks + ",\"timestamp\":" + System.currentTimeMillis() + "}");
      System.out.flush();
      try { Thread.sleep(interval); } catch (InterruptedException e) { break; }
    }
    log("info", "stopping", ticks);
    System.err.flush();
  }
}
