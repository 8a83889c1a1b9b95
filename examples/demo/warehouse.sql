-- Attached as schema "warehouse".
CREATE TABLE locations (
    code VARCHAR(8) PRIMARY KEY,
    "city name" TEXT NOT NULL
);
CREATE TABLE stock (
    location_code VARCHAR(8) NOT NULL REFERENCES locations (code),
    sku VARCHAR(32) NOT NULL,
    on_hand INTEGER NOT NULL DEFAULT 0,
    counted_on DATE,
    PRIMARY KEY (location_code, sku)
);
CREATE VIEW low_stock AS SELECT location_code, sku, on_hand FROM stock WHERE on_hand < 5;
