// E5M2 multiplier, round to nearest even, with IEEE 754 exception flags.
//
// Format (OCP 8-bit Floating Point Specification v1.0, E5M2; bitsim.format("e5m2")): sign, 5 exponent
// bits (bias 15), 2 mantissa bits; exponent 0 holds zero and subnormals (m/4 * 2^-14); exponent 31 holds
// infinities (m = 0) and NaNs (m != 0; m[1] = 1 quiet, m[1] = 0 signaling). Overflow gives infinity.
//
// Result conventions (bitsim.ops.mul, docs/arithmetic.md): every NaN result is the canonical quiet NaN
// 8'h7E; 0 * inf is invalid; a signaling NaN operand raises invalid; the product is rounded once (RNE).
// flags[0] inexact, [1] underflow (tiny after rounding and inexact), [2] overflow, [3] infinite
// (never for mul), [4] invalid: SoftFloat's bit order.
//
// Purely combinational and synthesizable: a 3x3-bit significand product, a priority encoder and one
// barrel shift.
`timescale 1ns / 1ps
module e5m2_mul (
    input  wire [7:0] a,
    input  wire [7:0] b,
    output reg  [7:0] y,
    output reg  [4:0] flags
);
    wire       sa = a[7], sb = b[7], s = a[7] ^ b[7];
    wire [4:0] ea = a[6:2], eb = b[6:2];
    wire [1:0] ma = a[1:0], mb = b[1:0];

    wire a_nan  = (ea == 5'd31) && (ma != 2'd0);
    wire b_nan  = (eb == 5'd31) && (mb != 2'd0);
    wire a_snan = a_nan && !ma[1];
    wire b_snan = b_nan && !mb[1];
    wire a_inf  = (ea == 5'd31) && (ma == 2'd0);
    wire b_inf  = (eb == 5'd31) && (mb == 2'd0);
    wire a_zero = (ea == 5'd0) && (ma == 2'd0);
    wire b_zero = (eb == 5'd0) && (mb == 2'd0);

    // significands with the hidden bit, and effective exponents (subnormals use exponent field 1)
    wire [2:0] siga = {ea != 5'd0, ma};
    wire [2:0] sigb = {eb != 5'd0, mb};
    wire [5:0] p = siga * sigb;                       // value = p * 2^e_p, exact
    wire signed [7:0] e_p = $signed({3'b000, (ea == 5'd0) ? 5'd1 : ea})
                          + $signed({3'b000, (eb == 5'd0) ? 5'd1 : eb}) - 8'sd34;

    // k: position of the leading one of p (p != 0 here)
    reg [2:0] k;
    always @* begin
        casez (p)
            6'b1?????: k = 3'd5;
            6'b01????: k = 3'd4;
            6'b001???: k = 3'd3;
            6'b0001??: k = 3'd2;
            6'b00001?: k = 3'd1;
            default:   k = 3'd0;
        endcase
    end

    wire signed [7:0] ue = e_p + $signed({5'b00000, k});           // exponent of the exact product
    wire signed [7:0] q  = (ue - 8'sd2 > -8'sd16) ? ue - 8'sd2 : -8'sd16;   // exponent of the result's LSB
    wire [4:0]  sh = q - e_p + 8'sd2;                              // 0 .. 18: bits dropped, plus 2
    wire [31:0] x  = {23'd0, p, 3'b000};
    wire [31:0] kept   = x >> (sh + 5'd1);
    wire        rnd    = x[sh];
    wire        sticky = (x & ((32'd1 << sh) - 32'd1)) != 32'd0;
    wire        inc    = rnd && (sticky || kept[0]);
    // the code's magnitude: the LSB's binade in the exponent field; a carry out of the mantissa moves
    // into the exponent field (and from the largest subnormal into the smallest normal) by itself
    wire [8:0]  mag = kept[8:0] + {q + 8'sd16, 2'b00} + {8'd0, inc};

    // tininess after rounding: the product rounded to 3 significant bits with an unbounded exponent
    wire [31:0] kept_u = x >> ({2'b00, k} + 5'd1);
    wire        rnd_u  = x[k];
    wire        tiny   = (ue < -8'sd14) && !(ue == -8'sd15 && kept_u[2:0] == 3'b111 && rnd_u);
    wire        inexact = rnd || sticky;

    always @* begin
        if (a_nan || b_nan) begin
            y = 8'h7E;
            flags = (a_snan || b_snan) ? 5'b10000 : 5'b00000;
        end else if ((a_inf && b_zero) || (a_zero && b_inf)) begin
            y = 8'h7E;
            flags = 5'b10000;
        end else if (a_inf || b_inf) begin
            y = {s, 7'h7C};
            flags = 5'b00000;
        end else if (a_zero || b_zero) begin
            y = {s, 7'h00};
            flags = 5'b00000;
        end else if (mag >= 9'd124) begin                // beyond the largest finite: infinity
            y = {s, 7'h7C};
            flags = 5'b00101;
        end else begin
            y = {s, mag[6:0]};
            flags = {3'b000, tiny && inexact, inexact};
        end
    end
endmodule
