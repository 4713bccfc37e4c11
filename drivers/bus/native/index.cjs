'use strict';
// The built addon, or an Error saying why not (the driver then uses its fallback).
module.exports = require('./build/Release/airssys_i2c.node');
