import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.parquet.crypto.*;
import org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory;
import org.apache.parquet.hadoop.*;
import org.apache.parquet.hadoop.example.*;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.schema.*;
import org.apache.parquet.ParquetReadOptions;

/**
 * Reads a Parquet file linkage encrypted (pyarrow, exchange.py) with Parquet's own key tools and
 * MemoryKms, as Spark's executors do, and writes one for linkage to read back (tests/test_spark_kms.py).
 * Arguments: the key (base64), the key-access token, the file to read, the file to write, another
 * run's key and token, then the Spark session's Hadoop properties as name=value. The other run's key
 * is tried on the file to read before and after the run's own (a fresh JVM, and one whose key tools
 * hold the run's client and keys in their caches): each attempt prints "other=" and what stopped it.
 */
public class KmsInterop {
  public static void main(String[] a) throws Exception {
    Configuration conf = new Configuration();
    for (int i = 6; i < a.length; i++) {          // the session's Hadoop properties, name=value
      String[] kv = a[i].split("=", 2);
      conf.set(kv[0], kv[1]);
    }
    PropertiesDrivenCryptoFactory f = new PropertiesDrivenCryptoFactory();
    Path in = new Path(a[2]);
    other(f, conf, in, a[4], a[5]);
    conf.set("linkage.exchange.secret", a[0]);
    conf.set("parquet.encryption.key.access.token", a[1]);
    System.out.println("rows=" + rows(f, conf, in));
    Path out = new Path(a[3]);
    MessageType schema = MessageTypeParser.parseMessageType("message m { required int64 id; optional binary name (UTF8); }");
    FileEncryptionProperties enc = f.getFileEncryptionProperties(conf, out, null);
    try (ParquetWriter<Group> w = ExampleParquetWriter.builder(out).withConf(conf).withType(schema).withEncryption(enc).build()) {
      SimpleGroupFactory g = new SimpleGroupFactory(schema);
      w.write(g.newGroup().append("id", 7L).append("name", "JAVASECRET"));
    }
    other(f, conf, in, a[4], a[5]);
  }

  static long rows(PropertiesDrivenCryptoFactory f, Configuration conf, Path in) throws Exception {
    FileDecryptionProperties dec = f.getFileDecryptionProperties(conf, in);
    try (ParquetFileReader r = ParquetFileReader.open(HadoopInputFile.fromPath(in, conf),
         ParquetReadOptions.builder().withDecryption(dec).build())) {
      return r.getRecordCount();
    }
  }

  /** Reads ``in`` under another run's key and token: prints what refused it, or that it was read. */
  static void other(PropertiesDrivenCryptoFactory f, Configuration base, Path in, String key, String token) {
    Configuration conf = new Configuration(base);
    conf.set("linkage.exchange.secret", key);
    conf.set("parquet.encryption.key.access.token", token);
    try {
      System.out.println("other=read rows=" + rows(f, conf, in));
    } catch (Exception e) {
      Throwable cause = e;
      while (cause.getCause() != null && !(cause instanceof KeyAccessDeniedException)) {
        cause = cause.getCause();
      }
      System.out.println("other=" + cause.getClass().getSimpleName());
    }
  }
}
