public enum Proto {}
